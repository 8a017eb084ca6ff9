//! Business counters (logins by result, tokens issued, reuse detected, lockouts, webhook
//! deliveries and their backlog), registered by
//! the service into its Prometheus registry. Label values are a closed set, so cardinality is
//! bounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Debug, Default)]
pub struct CoreMetrics {
    /// result: success | mfa_required | invalid_credentials | invalid_mfa_code | locked |
    /// disabled | email_not_verified | invalid_request | error
    pub logins: Family<ResultLabel, Counter>,
    /// kind: access | refresh | client | exchange | id_token
    pub tokens_issued: Family<KindLabel, Counter>,
    pub refresh_reuse: Counter,
    pub lockouts: Counter,
    /// Webhook delivery attempts by outcome: delivered | retry | failed | disabled
    pub webhook_deliveries: Family<OutcomeLabel, Counter>,
    /// Webhook deliveries waiting to be made (set by the delivery worker).
    pub webhook_backlog: Gauge,
    /// event: enrolled | removed | verified | failed | recovery_code_used
    pub mfa: Family<EventLabel, Counter>,
    /// Sign-ins through upstream providers: provider (the `[[upstream]]` id), event: started |
    /// succeeded | refused | unavailable
    pub upstream: Family<UpstreamLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabel {
    pub provider: String,
    pub event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    pub event: &'static str,
}

impl CoreMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "sesame_logins",
            "Login attempts by result",
            self.logins.clone(),
        );
        registry.register(
            "sesame_tokens_issued",
            "Tokens issued by kind",
            self.tokens_issued.clone(),
        );
        registry.register(
            "sesame_refresh_reuse_detected",
            "Spent refresh tokens presented after the grace window",
            self.refresh_reuse.clone(),
        );
        registry.register(
            "sesame_lockouts",
            "Accounts locked after repeated failed logins",
            self.lockouts.clone(),
        );
        registry.register(
            "sesame_webhook_deliveries",
            "Webhook delivery attempts by outcome",
            self.webhook_deliveries.clone(),
        );
        registry.register(
            "sesame_webhook_backlog",
            "Webhook deliveries waiting to be made",
            self.webhook_backlog.clone(),
        );
        registry.register(
            "sesame_mfa_events",
            "Second factors enrolled and removed, second steps of sign-ins verified and failed, recovery codes used",
            self.mfa.clone(),
        );
        registry.register(
            "sesame_upstream_sign_ins",
            "Sign-ins through upstream providers, by provider and event",
            self.upstream.clone(),
        );
    }

    pub fn upstream(&self, provider: &str, event: &'static str) {
        self.upstream
            .get_or_create(&UpstreamLabel {
                provider: provider.to_string(),
                event,
            })
            .inc();
    }

    pub fn mfa(&self, event: &'static str) {
        self.mfa.get_or_create(&EventLabel { event }).inc();
    }

    pub fn login(&self, result: &'static str) {
        self.logins.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub fn issued(&self, kind: &'static str) {
        self.tokens_issued.get_or_create(&KindLabel { kind }).inc();
    }
}
