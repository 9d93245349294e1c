// Exports a few logs, metrics and spans to a ganglion daemon with the real OpenTelemetry JS SDK
// and its OTLP/HTTP exporters, then prints what each export returned as one JSON line.
// usage: node export.js BASE_URL TOKEN SERVICE_NAME [NORMAL_LOGS [BURST_LOGS [json|protobuf]]]
// (normal request lines, then panic lines the detector should flag; as many spans: fast ones,
// then slow failing ones)
'use strict';
const api = require('@opentelemetry/api');
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const logsHttp = require('@opentelemetry/exporter-logs-otlp-http');
const logsProto = require('@opentelemetry/exporter-logs-otlp-proto');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const metricsHttp = require('@opentelemetry/exporter-metrics-otlp-http');
const metricsProto = require('@opentelemetry/exporter-metrics-otlp-proto');
const { Resource } = require('@opentelemetry/resources');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const tracesHttp = require('@opentelemetry/exporter-trace-otlp-http');
const tracesProto = require('@opentelemetry/exporter-trace-otlp-proto');

api.diag.setLogger(new api.DiagConsoleLogger(), api.DiagLogLevel.WARN);

// Records the result code of every export (0 = SUCCESS) without changing what is sent.
function recording(exporter, results) {
  const orig = exporter.export.bind(exporter);
  exporter.export = (items, cb) => orig(items, (res) => {
    results.push({ code: res.code, error: res.error ? String(res.error) : null });
    cb(res);
  });
  return exporter;
}

async function main() {
  const [base, token, service, normalArg, burstArg, protocol] = process.argv.slice(2);
  const proto = protocol === 'protobuf';
  const { OTLPLogExporter } = proto ? logsProto : logsHttp;
  const { OTLPMetricExporter } = proto ? metricsProto : metricsHttp;
  const nlogs = parseInt(normalArg || '5', 10);
  const nburst = parseInt(burstArg || '0', 10);
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const resource = new Resource({ 'service.name': service, 'deployment.environment': 'test' });
  const { OTLPTraceExporter } = proto ? tracesProto : tracesHttp;
  const out = { logs: [], metrics: [], traces: [] };

  const logs = recording(new OTLPLogExporter({ url: base + '/v1/logs', headers }), out.logs);
  const lp = new LoggerProvider({ resource });
  lp.addLogRecordProcessor(new BatchLogRecordProcessor(logs, { maxExportBatchSize: 512,
                                                           scheduledDelayMillis: 600000 }));
  const logger = lp.getLogger('ganglion-otel-test', '1.2.3');
  for (let i = 0; i < nlogs; i++) {
    logger.emit({
      severityNumber: 9,
      severityText: 'INFO',
      body: `Request completed method=GET path=/api/users status=200 duration_ms=${40 + (i % 20)}`,
      attributes: { 'http.method': 'GET', 'api_key': 'sekrit-otel-key', seq: i },
    });
  }
  for (let i = 0; i < nburst; i++) {
    logger.emit({
      severityNumber: 17,
      severityText: 'ERROR',
      body: `panic: runtime error: index out of range goroutine ${i} [running] ` +
            `main.handler(0x${(i * 7919).toString(16)}) /srv/app/handler.go:${100 + i}`,
      attributes: { 'api_key': 'sekrit-otel-key' },
    });
  }
  await lp.forceFlush();
  await lp.shutdown();

  const metrics = recording(new OTLPMetricExporter({ url: base + '/v1/metrics', headers }),
                            out.metrics);
  const reader = new PeriodicExportingMetricReader({ exporter: metrics,
                                                     exportIntervalMillis: 600000 });
  const mp = new MeterProvider({ resource, readers: [reader] });
  const meter = mp.getMeter('ganglion-otel-test');
  meter.createCounter('requests').add(5, { route: '/a' });
  meter.createObservableGauge('queue.depth').addCallback((r) => r.observe(7));
  const h = meter.createHistogram('latency');
  h.record(40);
  h.record(60);
  await mp.forceFlush();
  await mp.shutdown();

  const traces = recording(new OTLPTraceExporter({ url: base + '/v1/traces', headers }),
                           out.traces);
  const tp = new BasicTracerProvider({ resource });
  tp.addSpanProcessor(new BatchSpanProcessor(traces, { maxExportBatchSize: 512,
                                                       maxQueueSize: 4096,
                                                       scheduledDelayMillis: 600000 }));
  const tracer = tp.getTracer('ganglion-otel-test', '1.2.3');
  const t0 = Date.now() - 3600 * 1000;
  for (let i = 0; i < nlogs + nburst; i++) {
    const slow = i >= nlogs;
    const start = t0 + i * 1000;
    const span = tracer.startSpan('GET /api/users', {
      kind: api.SpanKind.SERVER, startTime: start,
      attributes: { 'http.route': '/api/users', 'http.response.status_code': slow ? 500 : 200 },
    });
    if (slow) span.setStatus({ code: api.SpanStatusCode.ERROR, message: 'upstream timeout' });
    span.end(start + (slow ? 15000 : 3));
  }
  await tp.forceFlush();
  await tp.shutdown();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
