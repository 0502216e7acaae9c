package main

// Performance data with known answers. Stock vcsim answers QueryPerf with
// canned points plus unseeded noise, newest sample first, ignoring the
// interval's retention, and PerformanceManager.historicalInterval is empty.
// Here every (entity, counter) has a deterministic series
//
//	value(t) = base + slope*days(t - start) + amp*sin(2*pi*t/1day) + noise
//
// and a sample of interval I at timestamp t is the series' mean over
// (t-I, t], as vCenter's roll-ups are: a trend plus daily seasonality plus
// noise that shrinks with the interval. Timestamps are aligned to the
// interval, ascending, startTime exclusive and endTime inclusive, limited to
// the interval's retention (realtime: one hour of 20 s samples on hosts,
// VMs and pools; historical: vCenter's default intervals, ESXi's one day of
// 5 minutes). Asking the same question twice gives the same numbers, so
// tests compare what ceso stored with what the server served.
//
// -perf-series pins a series: 'HostSystem/mem.usage.average=5000,50,0,0;vm-42/cpu.usage.average=...'
// (entity type or id / counter name = base,slope per day,amplitude,noise in
// the counter's raw unit) so trends and exhaustion dates are known.

import (
	"flag"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var perfSeriesFlag string

type perfParams struct{ base, slope, amp, noise float64 }

var perf struct {
	start    time.Time
	counters map[int32]types.PerfCounterInfo
	metrics  map[string][]types.PerfMetricId // entity type -> available metrics
	pinned   map[string]perfParams           // "type-or-id/counter" -> params
	realtime map[string]bool                 // entity types with 20 s samples
	retain   map[int32]time.Duration         // interval -> retention
}

func init() {
	flag.StringVar(&perfSeriesFlag, "perf-series", "", "pin performance series: 'TYPE-or-ID/group.name.rollup=base,slopePerDay,amp,noise;...'")
	extensions = append(extensions, installPerf)
	interceptSOAP("PerformanceManager", "QueryPerf", queryPerf)
}

func installPerf(m *simulator.Model) {
	perf.start = time.Now().UTC()
	perf.pinned = map[string]perfParams{}
	for _, item := range strings.Split(perfSeriesFlag, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		kv := strings.SplitN(item, "=", 2)
		nums := strings.Split(kv[len(kv)-1], ",")
		if len(kv) != 2 || len(nums) != 4 {
			fatalf("-perf-series %q: want TYPE/COUNTER=base,slope,amp,noise", item)
		}
		var v [4]float64
		for i, n := range nums {
			f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
			if err != nil {
				fatalf("-perf-series %q: %s", item, err)
			}
			v[i] = f
		}
		perf.pinned[kv[0]] = perfParams{v[0], v[1], v[2], v[3]}
	}

	perf.counters = map[int32]types.PerfCounterInfo{}
	perf.realtime = map[string]bool{"HostSystem": true, "VirtualMachine": true, "ResourcePool": true}
	var pm *simulator.PerformanceManager
	for _, id := range []string{"PerfMgr", "ha-perfmgr"} {
		if p, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "PerformanceManager", Value: id}).(*simulator.PerformanceManager); ok {
			pm = p
		}
	}
	if pm == nil {
		fatalf("no PerformanceManager in the model")
	}
	for _, c := range pm.PerfCounter {
		perf.counters[c.Key] = c
	}
	if opts.esx {
		perf.metrics = map[string][]types.PerfMetricId{
			"HostSystem": esx.HostMetrics, "VirtualMachine": esx.VmMetrics, "ResourcePool": esx.ResourcePoolMetrics,
		}
		pm.HistoricalInterval = []types.PerfInterval{{Key: 1, SamplingPeriod: 300, Name: "PastDay", Length: 86400, Level: 1, Enabled: true}}
	} else {
		perf.metrics = map[string][]types.PerfMetricId{
			"HostSystem": vpx.HostMetrics, "VirtualMachine": vpx.VmMetrics, "ResourcePool": vpx.ResourcePoolMetrics,
			"ClusterComputeResource": vpx.ClusterMetrics, "Datastore": vpx.DatastoreMetrics, "Datacenter": vpx.DatacenterMetrics,
		}
		pm.HistoricalInterval = []types.PerfInterval{
			{Key: 1, SamplingPeriod: 300, Name: "Past day", Length: 86400, Level: 1, Enabled: true},
			{Key: 2, SamplingPeriod: 1800, Name: "Past week", Length: 604800, Level: 1, Enabled: true},
			{Key: 3, SamplingPeriod: 7200, Name: "Past month", Length: 2592000, Level: 1, Enabled: true},
			{Key: 4, SamplingPeriod: 86400, Name: "Past year", Length: 31536000, Level: 1, Enabled: true},
		}
	}
	perf.retain = map[int32]time.Duration{20: time.Hour}
	for _, i := range pm.HistoricalInterval {
		perf.retain[i.SamplingPeriod] = time.Duration(i.Length) * time.Second
	}
}

func counterName(c types.PerfCounterInfo) string {
	return c.GroupInfo.GetElementDescription().Key + "." + c.NameInfo.GetElementDescription().Key + "." + string(c.RollupType)
}

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// unit01 maps a hash to [0, 1).
func unit01(h uint64) float64 { return float64(h>>11) / float64(uint64(1)<<53) }

// scale is a plausible full range of a counter on an entity, in its raw unit.
func scale(entityType string, c types.PerfCounterInfo) float64 {
	host := entityType != "VirtualMachine"
	switch c.UnitInfo.GetElementDescription().Key {
	case "percent":
		return 10000
	case "megaHertz":
		if host {
			return 20000
		}
		return 2000
	case "kiloBytes":
		if host {
			return 64 << 20
		}
		return 4 << 20
	case "kiloBytesPerSecond":
		return 100000
	case "millisecond":
		return 20
	default:
		return 1000
	}
}

func params(e types.ManagedObjectReference, c types.PerfCounterInfo) perfParams {
	name := counterName(c)
	for _, key := range []string{e.Value + "/" + name, e.Type + "/" + name} {
		if p, ok := perf.pinned[key]; ok {
			return p
		}
	}
	// min/max roll-ups follow their average's series.
	avg := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, ".maximum"), ".minimum"), ".none")
	h := hash64(e.Value, avg)
	s := scale(e.Type, c)
	return perfParams{
		base:  s * (0.2 + 0.4*unit01(h)),
		slope: s * (-0.001 + 0.006*unit01(hash64("slope", e.Value, avg))),
		amp:   s * 0.1 * unit01(hash64("amp", e.Value, avg)),
		noise: s * 0.02,
	}
}

// sample is the mean of the series over (t-interval, t], rounded to the raw unit.
func sample(e types.ManagedObjectReference, c types.PerfCounterInfo, t time.Time, interval int32) int64 {
	p := params(e, c)
	I := float64(interval)
	end := float64(t.Unix())
	mid := end - I/2
	v := p.base + p.slope*(mid-float64(perf.start.Unix()))/86400
	w := 2 * math.Pi / 86400
	v += p.amp * (math.Cos(w*(end-I)) - math.Cos(w*end)) / (w * I)
	// Deterministic standard normal from two hashes (Box-Muller).
	key := strconv.FormatInt(t.Unix(), 10) + "/" + strconv.Itoa(int(interval))
	u1 := unit01(hash64("n1", e.Value, counterName(c), key))
	u2 := unit01(hash64("n2", e.Value, counterName(c), key))
	n := math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
	v += p.noise * n / math.Sqrt(I/20)
	switch c.RollupType {
	case "maximum":
		v += math.Abs(p.noise) + p.amp*0.1
	case "minimum":
		v -= math.Abs(p.noise) + p.amp*0.1
	}
	if v < 0 {
		v = 0
	}
	if c.UnitInfo.GetElementDescription().Key == "percent" && v > 10000 {
		v = 10000
	}
	return int64(math.Round(v))
}

func queryPerf(call *soapCall) soap.HasFault {
	req := call.Method.Body.(*types.QueryPerf)
	body := &methods.QueryPerfBody{Res: &types.QueryPerfResponse{}}
	now := time.Now().UTC()
	for _, qs := range req.QuerySpec {
		if simulator.Map.Get(qs.Entity) == nil {
			body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: qs.Entity})
			return body
		}
		interval := qs.IntervalId
		if interval == 0 || interval == -1 {
			interval = 20
		}
		if interval == 20 && !perf.realtime[qs.Entity.Type] {
			continue // no real-time statistics for this entity: no answer for it
		}
		retain, ok := perf.retain[interval]
		if !ok {
			body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "intervalId"})
			return body
		}
		end := now
		if qs.EndTime != nil && qs.EndTime.Before(end) {
			end = *qs.EndTime
		}
		oldest := now.Add(-retain)
		start := oldest
		if qs.StartTime != nil && qs.StartTime.After(start) {
			start = *qs.StartTime
		}
		step := int64(interval)
		// Aligned timestamps in (start, end]; a sample exists once its interval is over.
		first := (start.Unix()/step + 1) * step
		last := end.Unix() / step * step
		var stamps []time.Time
		for ts := first; ts <= last; ts += step {
			stamps = append(stamps, time.Unix(ts, 0).UTC())
		}
		if qs.MaxSample > 0 && int(qs.MaxSample) < len(stamps) {
			stamps = stamps[len(stamps)-int(qs.MaxSample):]
		}
		ids := qs.MetricId
		if len(ids) == 0 {
			ids = perf.metrics[qs.Entity.Type]
		}
		metric := &types.PerfEntityMetric{PerfEntityMetricBase: types.PerfEntityMetricBase{Entity: qs.Entity}}
		for _, ts := range stamps {
			metric.SampleInfo = append(metric.SampleInfo, types.PerfSampleInfo{Timestamp: ts, Interval: interval})
		}
		for _, id := range ids {
			c, ok := perf.counters[id.CounterId]
			if !ok {
				continue
			}
			instance := id.Instance
			if instance == "*" || strings.HasPrefix(instance, "$") {
				instance = ""
			}
			series := &types.PerfMetricIntSeries{PerfMetricSeries: types.PerfMetricSeries{Id: types.PerfMetricId{CounterId: id.CounterId, Instance: instance}}}
			for _, ts := range stamps {
				series.Value = append(series.Value, sample(qs.Entity, c, ts, interval))
			}
			metric.Value = append(metric.Value, series)
		}
		body.Res.Returnval = append(body.Res.Returnval, metric)
	}
	return body
}
