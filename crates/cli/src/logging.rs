//! Structured logs to stderr — text for people, JSON lines for pipelines; `RUST_LOG` wins over
//! the configured level — and, when `log.otlp_endpoint` is set, the same spans exported as
//! OpenTelemetry traces over OTLP/HTTP (feature `otel`).

use portcullis_core::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// What must be flushed before the process ends: the spans not yet exported.
#[derive(Default)]
pub(crate) struct Telemetry {
    #[cfg(feature = "otel")]
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is left (waiting a few seconds at most) and stops exporting.
    pub(crate) fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(traces) = self.traces
            && let Err(e) = traces.shutdown_with_timeout(std::time::Duration::from_secs(5))
        {
            eprintln!("exporting the last traces failed: {e}");
        }
    }
}

/// Installs the global subscriber. Call inside the runtime: the trace exporter runs on it.
pub(crate) fn init(config: &LogConfig) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let text = (config.format == LogFormat::Text)
        .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let json = (config.format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr)
    });
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json);
    #[cfg(feature = "otel")]
    {
        let (layer, traces) = match &config.otlp_endpoint {
            Some(endpoint) => {
                let (layer, provider) = otlp::layer(endpoint)?;
                (Some(layer), Some(provider))
            }
            None => (None, None),
        };
        let _ = registry.with(layer).try_init();
        Ok(Telemetry { traces })
    }
    #[cfg(not(feature = "otel"))]
    {
        if config.otlp_endpoint.is_some() {
            anyhow::bail!(
                "log.otlp_endpoint is set but this portcullis was built without the `otel` feature"
            );
        }
        let _ = registry.try_init();
        Ok(Telemetry::default())
    }
}

#[cfg(feature = "otel")]
mod otlp {
    use anyhow::Context as _;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;

    /// A layer that exports every span (as the filter lets through) to `endpoint`, the full URL
    /// of an OTLP/HTTP traces receiver, in batches from a task of the runtime.
    pub(super) fn layer<S>(
        endpoint: &str,
    ) -> anyhow::Result<(
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        SdkTracerProvider,
    )>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()
            .context("log.otlp_endpoint: the trace exporter")?;
        let processor =
            BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("portcullis")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("portcullis");
        Ok((tracing_opentelemetry::layer().with_tracer(tracer), provider))
    }
}
