//! Why an offload decision came out as it did: a closed set, rendered to text only at the edge
//! (the `Ready` condition's reason, Event reasons, transition records).

/// The cause of one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `spec.suspend` is set.
    Suspended,
    /// `spec.pin` holds (or moves) the workload.
    Pinned,
    /// No offload agent is reachable: back to local, or a switch to one held.
    TargetUnhealthy,
    /// Moved from one offload agent to the next healthy one (the active one died or stayed degraded).
    FailedOver,
    /// Offload: the offload rules held for `offloadWhen.for`.
    OffloadRuleHeld,
    /// The offload rules hold but not yet for long enough.
    Violating,
    /// Back to local: the recovery rules held for `recoverWhen.for` (telemetry-driven).
    Recovered,
    /// The recovery rules hold but not yet for long enough.
    Recovering,
    /// The recovery rules hold but the hold after a failed trial return has not ended.
    BackoffActive,
    /// Back on local in a trial: any offload rule violation sends it back at once.
    Verifying,
    /// The trial return failed: offloaded again at once, and the next hold doubles.
    ReturnFailed,
    /// The trial return held for `verify.for`: the back-off is reset.
    TrialPassed,
    /// Offloaded, and the offload rules hold there too, with no better offload agent.
    OffloadDegraded,
    /// Nothing to change.
    Steady,
    /// No usable telemetry for long enough: `onNoData` moves the workload.
    NoDataFallback,
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
    /// Every reason, for exhaustive tests and documentation.
    pub const ALL: [Reason; 20] = [
        Reason::Suspended,
        Reason::Pinned,
        Reason::TargetUnhealthy,
        Reason::FailedOver,
        Reason::OffloadRuleHeld,
        Reason::Violating,
        Reason::Recovered,
        Reason::Recovering,
        Reason::BackoffActive,
        Reason::Verifying,
        Reason::ReturnFailed,
        Reason::TrialPassed,
        Reason::OffloadDegraded,
        Reason::Steady,
        Reason::NoDataFallback,
        Reason::TelemetryUnavailable,
        Reason::CooldownActive,
        Reason::SwitchBudgetExhausted,
        Reason::DryRunWouldOffload,
        Reason::DryRunWouldRecover,
    ];

    /// The text written to status and Events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Suspended => "Suspended",
            Reason::Pinned => "Pinned",
            Reason::TargetUnhealthy => "TargetUnhealthy",
            Reason::FailedOver => "FailedOver",
            Reason::OffloadRuleHeld => "OffloadRuleHeld",
            Reason::Violating => "Violating",
            Reason::Recovered => "Recovered",
            Reason::Recovering => "Recovering",
            Reason::BackoffActive => "BackoffActive",
            Reason::Verifying => "Verifying",
            Reason::ReturnFailed => "ReturnFailed",
            Reason::TrialPassed => "TrialPassed",
            Reason::OffloadDegraded => "OffloadDegraded",
            Reason::Steady => "Steady",
            Reason::NoDataFallback => "NoDataFallback",
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
        for r in Reason::ALL {
            assert_eq!(r.as_str(), format!("{r:?}"));
            assert_eq!(r.to_string(), r.as_str());
        }
    }
}
