//! The Prometheus text exposition format (0.0.4) and OpenMetrics 1.0: metric families
//! in, one page out. Pure: the exporter collects, this only writes.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// One metric family: a name, its help and type, and a value per label set.
#[derive(Debug, Clone)]
pub struct Family {
    /// Without `_total` for counters: the sample name adds it.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
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

    pub fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
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

/// The page: families in the order given (empty ones keep their HELP/TYPE, so the
/// page's shape does not depend on what the servers answered).
pub fn render(families: &[Family], format: Format) -> String {
    let mut out = String::new();
    for f in families {
        let kind = match f.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let sample_name = match f.kind {
            Kind::Counter => format!("{}_total", f.name),
            Kind::Gauge => f.name.to_string(),
        };
        // The text format names a counter's metadata as its samples (`…_total`);
        // OpenMetrics names the family without the suffix.
        let meta_name = match format {
            Format::Text => sample_name.as_str(),
            Format::OpenMetrics => f.name,
        };
        let _ = writeln!(out, "# HELP {meta_name} {}", escape_help(f.help));
        let _ = writeln!(out, "# TYPE {meta_name} {kind}");
        for (labels, value) in &f.samples {
            out.push_str(&sample_name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", number(*value));
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
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
        up.add(vec![("endpoint", "esx \"a\"\\1\n".into())], 1.0);
        let mut errors = Family::counter("ceso_scrape_errors", "Failed collections");
        errors.add(vec![("endpoint", "b".into())], 3.0);
        let mut hz = Family::gauge("ceso_vm_cpu_usage_hertz", "CPU");
        hz.add(vec![("vm", "x".into())], 1.5e9);
        hz.add(vec![], 0.25);
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
        errors.add(vec![], 1.0);
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
        assert_eq!(number(f64::NAN), "NaN");
    }
}
