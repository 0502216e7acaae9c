//! The Prometheus text exposition format (0.0.4) and OpenMetrics 1.0: metric families
//! in, one page out. Pure: the exporter collects, this only writes.

use std::fmt::Write;
use std::sync::Arc;

use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// A sample's label set, escaped and written once (`{endpoint="a",vm="b"}`): the families
/// of one object share it (at 25,000 VMs a label `String` per sample was most of the
/// exporter's memory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Option<Arc<str>>);

impl Labels {
    pub fn new(pairs: &[(&str, &str)]) -> Labels {
        if pairs.is_empty() {
            return Labels(None);
        }
        let mut out = String::from("{");
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
        Labels(Some(out.into()))
    }

    /// No labels: a family's single sample.
    pub fn none() -> Labels {
        Labels(None)
    }

    fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }
}

/// One metric family: a name, its help and type, and a value per label set.
#[derive(Debug, Clone)]
pub struct Family {
    /// Without `_total` for counters: the sample name adds it.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<(Labels, f64)>,
}

impl Family {
    pub fn gauge(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind: Kind::Gauge,
            samples: Vec::new(),
        }
    }

    pub fn counter(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind: Kind::Counter,
            samples: Vec::new(),
        }
    }

    pub fn add(&mut self, labels: Labels, value: f64) {
        self.samples.push((labels, value));
    }

    fn sample_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            Kind::Gauge => self.name.to_string(),
        }
    }

    /// `# HELP` and `# TYPE`: the only lines the two formats write differently (the
    /// text format names a counter's metadata as its samples, `…_total`; OpenMetrics
    /// names the family without the suffix).
    fn meta(&self, format: Format) -> String {
        let kind = match self.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let sample_name = self.sample_name();
        let name = match format {
            Format::Text => sample_name.as_str(),
            Format::OpenMetrics => self.name,
        };
        format!(
            "# HELP {name} {}\n# TYPE {name} {kind}\n",
            escape_help(self.help)
        )
    }

    /// The sample lines, alike in both formats.
    fn samples_text(&self) -> String {
        let name = self.sample_name();
        let mut out = String::new();
        for (labels, value) in &self.samples {
            out.push_str(&name);
            out.push_str(labels.as_str());
            out.push(' ');
            number(&mut out, *value);
            out.push('\n');
        }
        out
    }
}

/// Which format a scraper asked for (its `Accept` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    pub fn from_accept(accept: &str) -> Self {
        if accept.contains("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// One collection's page in both formats, rendered once: the sample lines (nearly all
/// of it) are shared between the formats, so a scrape only clones pointers.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Per family: its metadata in the text format, in OpenMetrics, and its samples.
    families: Vec<[Bytes; 3]>,
}

impl Page {
    /// Families in the order given (empty ones keep their HELP/TYPE, so the page's
    /// shape does not depend on what the servers answered).
    pub fn new(families: &[Family]) -> Page {
        Page {
            families: families
                .iter()
                .map(|f| {
                    [
                        Bytes::from(f.meta(Format::Text)),
                        Bytes::from(f.meta(Format::OpenMetrics)),
                        Bytes::from(f.samples_text()),
                    ]
                })
                .collect(),
        }
    }

    /// The page in `format`, as consecutive pieces of one body.
    pub fn chunks(&self, format: Format) -> Vec<Bytes> {
        let meta = match format {
            Format::Text => 0,
            Format::OpenMetrics => 1,
        };
        let mut out: Vec<Bytes> = self
            .families
            .iter()
            .flat_map(|f| [f[meta].clone(), f[2].clone()])
            .filter(|b| !b.is_empty())
            .collect();
        if format == Format::OpenMetrics {
            out.push(Bytes::from_static(b"# EOF\n"));
        }
        out
    }
}

/// The page as one string (tests, small pages).
pub fn render(families: &[Family], format: Format) -> String {
    let page = Page::new(families);
    let mut out = Vec::new();
    for chunk in page.chunks(format) {
        out.extend_from_slice(&chunk);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A sample value: integers without a fraction, the specials as the formats spell them.
fn number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{v:.0}");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_help_type_and_escaped_labels() {
        let mut up = Family::gauge("ceso_endpoint_up", "1 when the endpoint answered");
        up.add(Labels::new(&[("endpoint", "esx \"a\"\\1\n")]), 1.0);
        let mut errors = Family::counter("ceso_scrape_errors", "Failed collections");
        errors.add(Labels::new(&[("endpoint", "b")]), 3.0);
        let mut hz = Family::gauge("ceso_vm_cpu_usage_hertz", "CPU");
        hz.add(Labels::new(&[("vm", "x")]), 1.5e9);
        hz.add(Labels::none(), 0.25);
        let text = render(&[up, errors, hz], Format::Text);
        assert_eq!(
            text,
            "# HELP ceso_endpoint_up 1 when the endpoint answered\n\
             # TYPE ceso_endpoint_up gauge\n\
             ceso_endpoint_up{endpoint=\"esx \\\"a\\\"\\\\1\\n\"} 1\n\
             # HELP ceso_scrape_errors_total Failed collections\n\
             # TYPE ceso_scrape_errors_total counter\n\
             ceso_scrape_errors_total{endpoint=\"b\"} 3\n\
             # HELP ceso_vm_cpu_usage_hertz CPU\n\
             # TYPE ceso_vm_cpu_usage_hertz gauge\n\
             ceso_vm_cpu_usage_hertz{vm=\"x\"} 1500000000\n\
             ceso_vm_cpu_usage_hertz 0.25\n"
        );
        let mut errors = Family::counter("ceso_scrape_errors", "Failed collections");
        errors.add(Labels::none(), 1.0);
        let open = render(&[errors], Format::OpenMetrics);
        assert!(
            open.starts_with("# HELP ceso_scrape_errors Failed"),
            "{open}"
        );
        assert!(
            open.contains("\nceso_scrape_errors_total 1\n# EOF\n"),
            "{open}"
        );
    }

    #[test]
    fn the_accept_header_picks_the_format() {
        assert_eq!(
            Format::from_accept("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_accept("*/*"), Format::Text);
        let mut n = String::new();
        number(&mut n, f64::NAN);
        assert_eq!(n, "NaN");
    }
}
