//! Typed conditions: each controller names its condition types and reasons as enums; they become
//! strings only here, when status is written, and transition times survive unchanged statuses.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// A closed set of names (a condition type or a reason), rendered only at the edge.
pub trait Label: Copy + Eq + std::fmt::Debug {
    fn as_str(&self) -> &'static str;
}

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

impl From<bool> for Status {
    fn from(ok: bool) -> Self {
        if ok { Status::True } else { Status::False }
    }
}

/// A condition before timestamps are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond<T, R> {
    pub type_: T,
    pub status: Status,
    pub reason: R,
    pub message: String,
}

impl<T: Label, R: Label> Cond<T, R> {
    pub fn new(type_: T, status: impl Into<Status>, reason: R, message: impl Into<String>) -> Self {
        Self { type_, status: status.into(), reason, message: message.into() }
    }

    pub fn is_true(&self) -> bool {
        self.status == Status::True
    }

    /// Whether `before` (the stored condition of this type) has the same status and reason.
    pub fn same_as(&self, before: &Condition) -> bool {
        before.status == self.status.as_str() && before.reason == self.reason.as_str()
    }

    /// The API condition; `lastTransitionTime` is kept from `previous` when the status did not
    /// change, else it is `now`.
    pub fn render(&self, previous: &[Condition], generation: Option<i64>, now_ms: i64) -> Condition {
        let (type_, status) = (self.type_.as_str(), self.status.as_str());
        let last = previous
            .iter()
            .find(|p| p.type_ == type_ && p.status == status)
            .map_or_else(|| crate::clock::time(now_ms), |p| p.last_transition_time.clone());
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: self.reason.as_str().to_owned(),
            message: self.message.clone(),
            last_transition_time: last,
            observed_generation: generation,
        }
    }
}

/// All conditions rendered (see [`Cond::render`]).
pub fn render<T: Label, R: Label>(
    conds: &[Cond<T, R>],
    previous: &[Condition],
    generation: Option<i64>,
    now_ms: i64,
) -> Vec<Condition> {
    conds.iter().map(|c| c.render(previous, generation, now_ms)).collect()
}

/// A condition whose status or reason differs from what status held before, with the stored
/// condition of its type (`None` when it is new): what Events are published for.
#[derive(Debug)]
pub struct Change<'a, T, R> {
    pub now: &'a Cond<T, R>,
    pub before: Option<&'a Condition>,
}

/// The conditions that changed since `previous` (status or reason; a new message alone is no
/// change, so a figure in the message does not publish an Event per evaluation).
pub fn changes<'a, T: Label, R: Label>(conds: &'a [Cond<T, R>], previous: &'a [Condition]) -> Vec<Change<'a, T, R>> {
    conds
        .iter()
        .map(|now| Change { now, before: previous.iter().find(|p| p.type_ == now.type_.as_str()) })
        .filter(|c| c.before.is_none_or(|b| !c.now.same_as(b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum T {
        Ready,
        Other,
    }
    impl Label for T {
        fn as_str(&self) -> &'static str {
            match self {
                T::Ready => "Ready",
                T::Other => "Other",
            }
        }
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum R {
        Fine,
        Broken,
    }
    impl Label for R {
        fn as_str(&self) -> &'static str {
            match self {
                R::Fine => "Fine",
                R::Broken => "Broken",
            }
        }
    }

    fn stored(type_: &str, status: &str, reason: &str, at_ms: i64) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: "before".into(),
            last_transition_time: crate::clock::time(at_ms),
            observed_generation: Some(1),
        }
    }

    #[test]
    fn transition_time_is_kept_while_the_status_holds_and_moves_when_it_changes() {
        let previous = [stored("Ready", "True", "Fine", 1_000)];
        let same = Cond::new(T::Ready, true, R::Fine, "still fine");
        let c = same.render(&previous, Some(2), 9_000);
        assert_eq!((c.last_transition_time.0.as_millisecond(), c.message.as_str()), (1_000, "still fine"));
        assert_eq!(c.observed_generation, Some(2));
        let flipped = Cond::new(T::Ready, false, R::Broken, "now broken").render(&previous, Some(2), 9_000);
        assert_eq!((flipped.status.as_str(), flipped.last_transition_time.0.as_millisecond()), ("False", 9_000));
        let new = Cond::new(T::Other, Status::Unknown, R::Fine, "").render(&previous, None, 5_000);
        assert_eq!((new.type_.as_str(), new.status.as_str()), ("Other", "Unknown"));
        assert_eq!(new.last_transition_time.0.as_millisecond(), 5_000);
    }

    #[test]
    fn changes_are_new_types_or_a_new_status_or_reason_not_a_new_message() {
        let previous = [stored("Ready", "True", "Fine", 1_000)];
        let conds = [Cond::new(T::Ready, true, R::Fine, "a different message"), Cond::new(T::Other, true, R::Fine, "")];
        let ch = changes(&conds, &previous);
        assert_eq!(ch.len(), 1);
        assert_eq!((ch[0].now.type_, ch[0].before.is_none()), (T::Other, true));
        let reason_changed = [Cond::new(T::Ready, true, R::Broken, "")];
        let ch = changes(&reason_changed, &previous);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].before.map(|b| b.reason.as_str()), Some("Fine"));
    }
}
