//! Why an offload decision came out as it did: a closed set, rendered to text only at the edge
//! (the `Ready` condition's reason, Event reasons, transition records).

/// The cause of one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `spec.suspend` is set.
    Suspended,
    /// `spec.pin` holds (or moves) the workload.
    Pinned,
    /// The offload agent is unreachable: failback, or a switch to it held.
    TargetUnhealthy,
    /// Offload: the frame rate stayed under `fpsBelow` long enough.
    FpsBelowThreshold,
    /// Offload: inference latency stayed over `latencyAbove` long enough.
    LatencyAboveThreshold,
    /// An offload rule is violated but not yet for long enough.
    Violating,
    /// Back to local: every recovery rule held long enough.
    Recovered,
    /// Every recovery rule holds but not yet for long enough.
    Recovering,
    /// Nothing to change.
    Steady,
    /// No usable telemetry for long enough: `onNoData` moves the workload.
    NoTelemetry,
    /// No usable telemetry: staying where it runs.
    TelemetryUnavailable,
    /// A switch is held by the cooldown.
    CooldownActive,
    /// A switch is held by `maxSwitchesPerHour`.
    SwitchBudgetExhausted,
    /// DryRun: an offload is reported, not carried out.
    DryRunWouldOffload,
    /// DryRun: a return to local is reported, not carried out.
    DryRunWouldRecover,
}

impl Reason {
    /// The text written to status and Events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Suspended => "Suspended",
            Reason::Pinned => "Pinned",
            Reason::TargetUnhealthy => "TargetUnhealthy",
            Reason::FpsBelowThreshold => "FpsBelowThreshold",
            Reason::LatencyAboveThreshold => "LatencyAboveThreshold",
            Reason::Violating => "Violating",
            Reason::Recovered => "Recovered",
            Reason::Recovering => "Recovering",
            Reason::Steady => "Steady",
            Reason::NoTelemetry => "NoTelemetry",
            Reason::TelemetryUnavailable => "TelemetryUnavailable",
            Reason::CooldownActive => "CooldownActive",
            Reason::SwitchBudgetExhausted => "SwitchBudgetExhausted",
            Reason::DryRunWouldOffload => "DryRunWouldOffload",
            Reason::DryRunWouldRecover => "DryRunWouldRecover",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Reason> for String {
    fn from(r: Reason) -> Self {
        r.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn every_reason_renders_as_its_variant_name() {
        for r in [
            Reason::Suspended,
            Reason::Pinned,
            Reason::TargetUnhealthy,
            Reason::FpsBelowThreshold,
            Reason::LatencyAboveThreshold,
            Reason::Violating,
            Reason::Recovered,
            Reason::Recovering,
            Reason::Steady,
            Reason::NoTelemetry,
            Reason::TelemetryUnavailable,
            Reason::CooldownActive,
            Reason::SwitchBudgetExhausted,
            Reason::DryRunWouldOffload,
            Reason::DryRunWouldRecover,
        ] {
            assert_eq!(r.as_str(), format!("{r:?}"));
            assert_eq!(r.to_string(), r.as_str());
        }
    }
}
