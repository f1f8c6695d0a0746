//! The in-process backend: one keyed GCRA limiter (the governor crate) per route class. Idle
//! keys — whose state is indistinguishable from a fresh one — are evicted by [`MemoryBackend::evict`],
//! which the limiter's timer calls, so a flood of distinct addresses cannot grow memory without
//! bound.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::{ClassQuotas, Verdict};
use crate::routes::RouteClass;

/// Shifts the memory backend's clock forward, so a test can make keys idle without waiting.
#[derive(Clone, Default, Debug)]
pub struct ClockShift(Arc<AtomicU64>);

impl ClockShift {
    /// Move the clock `by` into the future (cumulative).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::Relaxed);
    }

    fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// The monotonic clock plus a test-controlled shift (zero in production).
#[derive(Clone)]
struct ShiftedClock(ClockShift);

impl Clock for ShiftedClock {
    type Instant = Instant;
    fn now(&self) -> Instant {
        Instant::now() + self.0.get()
    }
}

type Keyed = RateLimiter<IpAddr, DashMapStateStore<IpAddr>, ShiftedClock, StateInformationMiddleware>;

struct ClassLimiter {
    limiter: Keyed,
    limit: u32,
    emission: Duration,
}

/// One keyed limiter per route class.
pub struct MemoryBackend {
    classes: [ClassLimiter; 5],
    clock: ShiftedClock,
}

impl MemoryBackend {
    /// Limiters for `quotas`, on the real clock shifted by `shift`.
    pub fn new(quotas: &ClassQuotas, shift: ClockShift) -> Self {
        let clock = ShiftedClock(shift);
        let make = |class: RouteClass| {
            let q = quotas.get(class);
            let emission = q.period.duration() / q.count.max(1);
            let burst = NonZeroU32::new(q.count).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(emission.max(Duration::from_nanos(1)))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            ClassLimiter {
                limiter: Keyed::new(quota, DashMapStateStore::default(), clock.clone()),
                limit: burst.get(),
                emission,
            }
        };
        Self {
            classes: super::CLASSES.map(make),
            clock,
        }
    }

    /// Take one request from `key`'s budget for `class`, if there is one.
    pub fn check(&self, class: RouteClass, key: IpAddr) -> Verdict {
        let c = &self.classes[super::class_index(class)];
        match c.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Verdict {
                    allowed: true,
                    limit: c.limit,
                    remaining,
                    retry_after: Duration::ZERO,
                    // governor does not expose the arrival time, so this is the upper bound:
                    // at most one emission interval more than the exact time to a full bucket.
                    reset: c.emission * (c.limit - remaining.min(c.limit)),
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Verdict {
                    allowed: false,
                    limit: c.limit,
                    remaining: 0,
                    retry_after: wait,
                    reset: wait + c.emission * (c.limit - 1),
                }
            }
        }
    }

    /// Drop idle keys and give the memory back; returns the number of keys left.
    pub fn evict(&self) -> usize {
        for c in &self.classes {
            c.limiter.retain_recent();
            c.limiter.shrink_to_fit();
        }
        self.key_count()
    }

    /// Keys held, over all classes.
    pub fn key_count(&self) -> usize {
        self.classes.iter().map(|c| c.limiter.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessiond_core::config::{Period, Quota as Q, RateLimitSettings};

    fn backend(count: u32, period: Period, shift: ClockShift) -> MemoryBackend {
        let s = RateLimitSettings {
            default: Q { count, period },
            ..RateLimitSettings::default()
        };
        MemoryBackend::new(&ClassQuotas::from_settings(&s), shift)
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn burst_then_refusal_with_headers() {
        let b = backend(10, Period::Minute, ClockShift::default());
        for i in 0..10u32 {
            let v = b.check(RouteClass::Generate, ip(1));
            assert!(v.allowed, "request {i}");
            assert_eq!(v.remaining, 9 - i);
            assert_eq!(v.limit, 10);
        }
        let v = b.check(RouteClass::Generate, ip(1));
        assert!(!v.allowed);
        assert_eq!(v.remaining, 0);
        // One cell every 6 s: the next one is at most 6 s away, a full bucket at most 60 s.
        assert!(v.retry_after > Duration::from_secs(5) && v.retry_after <= Duration::from_secs(6));
        assert!(v.reset > Duration::from_secs(59) && v.reset <= Duration::from_secs(60));
        // Classes and keys have their own budgets.
        assert!(b.check(RouteClass::Validate, ip(1)).allowed);
        assert!(b.check(RouteClass::Generate, ip(2)).allowed);
    }

    #[test]
    fn idle_keys_are_evicted_when_the_clock_moves_on() {
        let shift = ClockShift::default();
        let b = backend(10, Period::Minute, shift.clone());
        for n in 0..1000 {
            assert!(b.check(RouteClass::Read, ip(n)).allowed);
        }
        assert_eq!(b.evict(), 1000, "recent keys stay");
        // governor keeps a key one emission interval past its arrival time (6 s + 6 s).
        shift.advance(Duration::from_secs(7));
        assert_eq!(b.evict(), 1000, "not idle yet");
        shift.advance(Duration::from_secs(6));
        assert_eq!(b.evict(), 0, "idle keys go");
        // A refused key's budget refills by the shifted clock too.
        for _ in 0..10 {
            b.check(RouteClass::Read, ip(5));
        }
        assert!(!b.check(RouteClass::Read, ip(5)).allowed);
        shift.advance(Duration::from_secs(6));
        assert!(b.check(RouteClass::Read, ip(5)).allowed);
    }
}
