//! Time as a plain value: the speaker never reads a clock. The caller passes
//! the current [`Instant`] into every call (milliseconds since an epoch of its
//! choosing), which is what makes the speaker testable under simulated time.
use core::ops::{Add, Sub};
use std::time::Duration;

/// A monotonic point in time, in milliseconds since a caller-chosen epoch.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    millis: u64,
}

impl Instant {
    pub const ZERO: Instant = Instant { millis: 0 };

    pub const fn from_millis(millis: u64) -> Instant {
        Instant { millis }
    }

    pub const fn from_secs(secs: u64) -> Instant {
        Instant {
            millis: secs.saturating_mul(1000),
        }
    }

    pub const fn total_millis(self) -> u64 {
        self.millis
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Instant {
            millis: self.millis.saturating_add(ms),
        }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_secs(3);
        assert_eq!((t + Duration::from_millis(500)).total_millis(), 3500);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::from_millis(1000), Duration::from_secs(2));
        assert_eq!(
            Instant::from_millis(u64::MAX) + Duration::from_secs(1),
            Instant::from_millis(u64::MAX)
        );
    }
}
