//! The stall watchdog of a group member (enricher, sink): it notices when this member sits
//! idle while its group has lag, and heals it by leaving and rejoining the group.
//!
//! Why: a coordinator can leave a group "formed" with an assignment that does not match its
//! live members (Tansu 0.6 after quick successive `kill -9`s of the only consumer: an empty
//! assignment; on Apache Kafka, a member whose own and the coordinator's view disagree). The
//! member then answers ready, logs nothing and consumes nothing, forever.
//!
//! The rule ([`StallRule`], pure and table-tested), judged at every lag measurement of
//! [`crate::lag`] (the group's committed offsets and high watermarks) against this member's
//! own assignment:
//!
//! * the group has lag (some partition's committed offset is below its high watermark), and
//! * this member is not holding back on purpose (`held`: the sink while ClickHouse fails, the
//!   enricher while its producer is backed up), and
//! * for longer than [`WatchdogConfig::stall_after_ms`] (default 30 s, three session timeouts):
//!   * `no_partitions`: this member has no partition of the topic, or
//!   * `no_progress`: it has lagging partitions and the committed offset of none of them moved, or
//!   * `orphaned_partitions`: every lagging partition belongs to other members and none moved
//!     for twice the bound (their owner is gone or stuck; a rejoin makes the group rebalance).
//!
//! Then the member leaves and rejoins (unsubscribe, subscribe), logs the evidence and counts
//! `tributary_consumer_rejoins_total{group,reason}`. After
//! [`WatchdogConfig::max_rejoins_without_progress`] rejoins for `no_partitions`/`no_progress`
//! without any committed progress in between, [`Health`] turns false and `/healthz` answers
//! 503, so Kubernetes (or a local supervisor) restarts the process with a new client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use prometheus::{register_int_counter_vec, register_int_gauge_vec, IntCounterVec, IntGaugeVec};
use rdkafka::consumer::{Consumer, ConsumerContext};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::lag::{PartitionLag, Snapshot};

/// `[kafka.watchdog]`: when a group member counts as stalled, and what then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchdogConfig {
    /// Off only for experiments: a stalled member then waits for a human.
    pub enabled: bool,
    /// How long the group may have lag while this member has no partitions or makes no
    /// committed progress before it rejoins (milliseconds). Default 30 000: three of the
    /// default 10 s session timeouts, so a normal rebalance after a member died never counts.
    pub stall_after_ms: u64,
    /// Rejoins without committed progress in between after which `/healthz` fails.
    pub max_rejoins_without_progress: u32,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            enabled: true,
            stall_after_ms: 30_000,
            max_rejoins_without_progress: 3,
        }
    }
}

/// Why a member rejoined: the `reason` label of `tributary_consumer_rejoins_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NoPartitions,
    NoProgress,
    OrphanedPartitions,
}

impl Reason {
    /// Every value, so the counter is exported at 0 from start-up.
    pub const ALL: [Reason; 3] = [
        Reason::NoPartitions,
        Reason::NoProgress,
        Reason::OrphanedPartitions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoPartitions => "no_partitions",
            Reason::NoProgress => "no_progress",
            Reason::OrphanedPartitions => "orphaned_partitions",
        }
    }

    /// Whether rejoins for this reason count towards failing `/healthz`: only those where
    /// this member itself is the one not consuming.
    fn counts_against_health(self) -> bool {
        !matches!(self, Reason::OrphanedPartitions)
    }
}

/// A stall the rule found, with what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    pub reason: Reason,
    /// Human-readable evidence: lag, assignment, how long nothing moved.
    pub evidence: String,
}

/// One judgement's inputs.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The group's position on every partition of the topic (from [`crate::lag::measure`]).
    pub partitions: &'a [PartitionLag],
    /// This member's partitions of the topic.
    pub assigned: &'a [i32],
    /// The member holds back on purpose (downstream failing); never a stall.
    pub held: bool,
}

/// The watchdog's rule, without I/O: feed it observations, it answers when to rejoin.
#[derive(Debug)]
pub struct StallRule {
    config: WatchdogConfig,
    /// Committed offsets at the previous observation.
    committed: HashMap<i32, Option<i64>>,
    assigned: Vec<i32>,
    /// Since when the current stall candidate holds.
    stuck_since: Option<Instant>,
    rejoins_without_progress: u32,
}

impl StallRule {
    pub fn new(config: WatchdogConfig) -> Self {
        StallRule {
            config,
            committed: HashMap::new(),
            assigned: Vec::new(),
            stuck_since: None,
            rejoins_without_progress: 0,
        }
    }

    /// Judge one observation taken at `now`; `Some` means: rejoin now (then call
    /// [`StallRule::rejoined`]).
    pub fn observe(&mut self, now: Instant, observation: Observation<'_>) -> Option<Stall> {
        let mut assigned = observation.assigned.to_vec();
        assigned.sort_unstable();
        let first = self.committed.is_empty();
        let advanced: Vec<i32> = observation
            .partitions
            .iter()
            .filter(|p| {
                !first
                    && match (
                        self.committed.get(&p.partition).copied().flatten(),
                        p.committed,
                    ) {
                        (Some(before), Some(now)) => now > before,
                        (None, Some(_)) => true,
                        _ => false,
                    }
            })
            .map(|p| p.partition)
            .collect();
        self.committed = observation
            .partitions
            .iter()
            .map(|p| (p.partition, p.committed))
            .collect();
        let lagging: Vec<&PartitionLag> = observation
            .partitions
            .iter()
            .filter(|p| p.lag() > 0)
            .collect();
        let group_lag: i64 = lagging.iter().map(|p| p.lag()).sum();
        let mine_lagging: Vec<i32> = lagging
            .iter()
            .map(|p| p.partition)
            .filter(|p| assigned.contains(p))
            .collect();
        let my_progress = advanced.iter().any(|p| assigned.contains(p));
        if group_lag == 0 || my_progress {
            self.rejoins_without_progress = 0;
        }
        let assignment_changed = assigned != self.assigned;
        self.assigned = assigned;
        let assigned = &self.assigned;
        let moved = |set: &[i32]| advanced.iter().any(|p| set.contains(p));
        let others_lagging: Vec<i32> = lagging
            .iter()
            .map(|p| p.partition)
            .filter(|p| !assigned.contains(p))
            .collect();
        let candidate = if group_lag == 0 || observation.held || first {
            None
        } else if assigned.is_empty() {
            Some((Reason::NoPartitions, 1))
        } else if !mine_lagging.is_empty() {
            (!moved(&mine_lagging)).then_some((Reason::NoProgress, 1))
        } else {
            (!moved(&others_lagging)).then_some((Reason::OrphanedPartitions, 2))
        };
        let Some((reason, bounds)) = candidate else {
            self.stuck_since = None;
            return None;
        };
        if assignment_changed {
            // A new assignment deserves a whole bound before it counts as stuck.
            self.stuck_since = Some(now);
            return None;
        }
        let since = *self.stuck_since.get_or_insert(now);
        let stuck_for = now.saturating_duration_since(since);
        if stuck_for < self.bound() * bounds {
            return None;
        }
        let lag_by_partition: Vec<String> = lagging
            .iter()
            .map(|p| format!("{}:{}", p.partition, p.lag()))
            .collect();
        let evidence = format!(
            "group lag {group_lag} (partition:lag {}), assigned {:?}, no committed progress on {} for {:.0}s (bound {:.0}s), {} rejoins without progress before this",
            lag_by_partition.join(" "),
            assigned,
            match reason {
                Reason::NoPartitions => "any partition of this member (it has none)".to_string(),
                Reason::NoProgress => format!("its lagging partitions {mine_lagging:?}"),
                Reason::OrphanedPartitions => format!("other members' partitions {others_lagging:?}"),
            },
            stuck_for.as_secs_f64(),
            (self.bound() * bounds).as_secs_f64(),
            self.rejoins_without_progress,
        );
        Some(Stall { reason, evidence })
    }

    /// The member rejoined for `reason` at `now`: the bound starts again.
    pub fn rejoined(&mut self, reason: Reason) {
        self.stuck_since = None;
        self.assigned.clear();
        if reason.counts_against_health() {
            self.rejoins_without_progress += 1;
        }
    }

    /// False once the member rejoined `max_rejoins_without_progress` times with no committed
    /// progress in between: rejoining does not heal it, a new process might.
    pub fn healthy(&self) -> bool {
        self.rejoins_without_progress < self.config.max_rejoins_without_progress.max(1)
    }

    pub fn rejoins_without_progress(&self) -> u32 {
        self.rejoins_without_progress
    }

    fn bound(&self) -> Duration {
        Duration::from_millis(self.config.stall_after_ms.max(1))
    }
}

/// Liveness as `/healthz` reports it: true until a component declares the process unable to
/// heal itself. Clones share the flag.
#[derive(Debug, Clone)]
pub struct Health(Arc<AtomicBool>);

impl Default for Health {
    fn default() -> Self {
        Health(Arc::new(AtomicBool::new(true)))
    }
}

impl Health {
    pub fn set(&self, healthy: bool) {
        self.0.store(healthy, Ordering::Relaxed);
    }
    pub fn is_healthy(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

static ASSIGNED: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "tributary_consumer_assigned_partitions",
        "Partitions of the topic assigned to this group member, as the member itself sees it",
        &["group", "topic"]
    )
    .unwrap()
});

static REJOINS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tributary_consumer_rejoins_total",
        "Times the stall watchdog made this member leave and rejoin its group, by reason (no_partitions, no_progress, orphaned_partitions)",
        &["group", "reason"]
    )
    .unwrap()
});

/// The watchdog of one member: the pipeline calls [`Watchdog::check`] after each lag
/// measurement ([`Watchdog::measured`]) with its consumer and whether it holds back.
pub struct Watchdog {
    rule: StallRule,
    enabled: bool,
    group: String,
    topic: String,
    snapshots: watch::Receiver<Option<Snapshot>>,
    health: Health,
}

impl Watchdog {
    /// A watchdog for `group` on `topic`, judging the measurements of `snapshots` (from
    /// [`crate::lag::spawn_group_monitor`]); it sets `health` for `/healthz`. Exports its
    /// counters at 0.
    pub fn new(
        config: &WatchdogConfig,
        group: &str,
        topic: &str,
        snapshots: watch::Receiver<Option<Snapshot>>,
        health: Health,
    ) -> Self {
        for reason in Reason::ALL {
            REJOINS.with_label_values(&[group, reason.as_str()]);
        }
        ASSIGNED.with_label_values(&[group, topic]).set(0);
        Watchdog {
            rule: StallRule::new(config.clone()),
            enabled: config.enabled,
            group: group.into(),
            topic: topic.into(),
            snapshots,
            health,
        }
    }

    /// Resolves when a new lag measurement arrived (never, once the reporter stopped).
    pub async fn measured(&mut self) {
        if self.snapshots.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Judge the latest measurement against `consumer`'s assignment; when the member is
    /// stalled, leave and rejoin the group. Returns the reason of a rejoin.
    pub fn check<C, X>(&mut self, consumer: &C, held: bool) -> Option<Reason>
    where
        C: Consumer<X>,
        X: ConsumerContext + 'static,
    {
        let assigned: Vec<i32> = match consumer.assignment() {
            Ok(list) => list
                .elements()
                .iter()
                .filter(|e| e.topic() == self.topic)
                .map(|e| e.partition())
                .collect(),
            Err(error) => {
                tracing::debug!(%error, "reading the assignment failed");
                return None;
            }
        };
        ASSIGNED
            .with_label_values(&[&self.group, &self.topic])
            .set(assigned.len() as i64);
        let snapshot = self.snapshots.borrow_and_update().clone()?;
        let stall = self.rule.observe(
            snapshot.at,
            Observation {
                partitions: &snapshot.partitions,
                assigned: &assigned,
                held,
            },
        );
        self.health.set(self.rule.healthy());
        let stall = stall?;
        if !self.enabled {
            tracing::warn!(group = %self.group, topic = %self.topic, reason = stall.reason.as_str(),
                evidence = %stall.evidence, "consumer stalled; watchdog disabled, not rejoining");
            return None;
        }
        tracing::warn!(group = %self.group, topic = %self.topic, reason = stall.reason.as_str(),
            evidence = %stall.evidence, "consumer stalled; leaving and rejoining the group");
        consumer.unsubscribe();
        if let Err(error) = consumer.subscribe(&[self.topic.as_str()]) {
            tracing::error!(%error, topic = %self.topic, "subscribing again failed");
        }
        REJOINS
            .with_label_values(&[&self.group, stall.reason.as_str()])
            .inc();
        self.rule.rejoined(stall.reason);
        self.health.set(self.rule.healthy());
        if !self.rule.healthy() {
            tracing::error!(group = %self.group, rejoins = self.rule.rejoins_without_progress(),
                "rejoining does not heal this member; /healthz now fails so it gets restarted");
        }
        Some(stall.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(partition: i32, committed: Option<i64>, high: i64) -> PartitionLag {
        PartitionLag {
            partition,
            low: 0,
            high,
            committed,
        }
    }

    fn rule() -> StallRule {
        StallRule::new(WatchdogConfig {
            enabled: true,
            stall_after_ms: 30_000,
            max_rejoins_without_progress: 3,
        })
    }

    /// Seconds since start, the group's partitions, this member's assignment, held.
    type Step = (u64, Vec<PartitionLag>, Vec<i32>, bool);
    /// A name, its steps, the verdict of each.
    type Case = (&'static str, Vec<Step>, Vec<Option<Reason>>);

    /// Feed `steps` and return each verdict.
    fn run(rule: &mut StallRule, steps: &[Step]) -> Vec<Option<Reason>> {
        let start = Instant::now();
        steps
            .iter()
            .map(|(at, partitions, assigned, held)| {
                let stall = rule.observe(
                    start + Duration::from_secs(*at),
                    Observation {
                        partitions,
                        assigned,
                        held: *held,
                    },
                );
                if let Some(stall) = &stall {
                    rule.rejoined(stall.reason);
                }
                stall.map(|s| s.reason)
            })
            .collect()
    }

    #[test]
    fn an_idle_member_without_partitions_rejoins_after_the_bound() {
        let lagging = vec![p(0, Some(10), 100), p(1, Some(10), 100)];
        let got = run(
            &mut rule(),
            &[
                (0, lagging.clone(), vec![], false),
                (10, lagging.clone(), vec![], false),
                (29, lagging.clone(), vec![], false),
                (41, lagging.clone(), vec![], false),
            ],
        );
        assert_eq!(got, [None, None, None, Some(Reason::NoPartitions)]);
    }

    #[test]
    fn verdicts() {
        let lag = |c0: i64, c1: i64| vec![p(0, Some(c0), 100), p(1, Some(c1), 100)];
        let cases: Vec<Case> = vec![
            (
                "no lag: an empty assignment is fine (more members than partitions)",
                vec![
                    (0, lag(100, 100), vec![], false),
                    (40, lag(100, 100), vec![], false),
                    (80, lag(100, 100), vec![], false),
                ],
                vec![None, None, None],
            ),
            (
                "own partitions progressing: never",
                vec![
                    (0, lag(10, 10), vec![0, 1], false),
                    (20, lag(20, 20), vec![0, 1], false),
                    (40, lag(30, 30), vec![0, 1], false),
                    (60, lag(40, 40), vec![0, 1], false),
                ],
                vec![None, None, None, None],
            ),
            (
                "own lagging partitions not moving: no_progress after the bound",
                vec![
                    (0, lag(10, 10), vec![0, 1], false),
                    (10, lag(10, 10), vec![0, 1], false),
                    (45, lag(10, 10), vec![0, 1], false),
                ],
                vec![None, None, Some(Reason::NoProgress)],
            ),
            (
                "held on purpose (sink while ClickHouse is down): never",
                vec![
                    (0, lag(10, 10), vec![0, 1], true),
                    (10, lag(10, 10), vec![0, 1], true),
                    (45, lag(10, 10), vec![0, 1], true),
                    (90, lag(10, 10), vec![0, 1], true),
                ],
                vec![None, None, None, None],
            ),
            (
                "held resets the clock",
                vec![
                    (0, lag(10, 10), vec![0, 1], false),
                    (20, lag(10, 10), vec![0, 1], true),
                    (40, lag(10, 10), vec![0, 1], false),
                    (60, lag(10, 10), vec![0, 1], false),
                    (75, lag(10, 10), vec![0, 1], false),
                ],
                vec![None, None, None, None, Some(Reason::NoProgress)],
            ),
            (
                "one partition mine and drained, the other's owner stuck: orphaned after 2 bounds",
                vec![
                    (
                        0,
                        vec![p(0, Some(100), 100), p(1, Some(10), 100)],
                        vec![0],
                        false,
                    ),
                    (
                        10,
                        vec![p(0, Some(100), 100), p(1, Some(10), 100)],
                        vec![0],
                        false,
                    ),
                    (
                        45,
                        vec![p(0, Some(100), 100), p(1, Some(10), 100)],
                        vec![0],
                        false,
                    ),
                    (
                        75,
                        vec![p(0, Some(100), 100), p(1, Some(10), 100)],
                        vec![0],
                        false,
                    ),
                ],
                vec![None, None, None, Some(Reason::OrphanedPartitions)],
            ),
            (
                "the other member's partition progressing: fine",
                vec![
                    (
                        0,
                        vec![p(0, Some(100), 100), p(1, Some(10), 100)],
                        vec![0],
                        false,
                    ),
                    (
                        40,
                        vec![p(0, Some(100), 100), p(1, Some(20), 100)],
                        vec![0],
                        false,
                    ),
                    (
                        80,
                        vec![p(0, Some(100), 100), p(1, Some(30), 100)],
                        vec![0],
                        false,
                    ),
                ],
                vec![None, None, None],
            ),
            (
                "a new assignment gets a whole bound",
                vec![
                    (0, lag(10, 10), vec![], false),
                    (25, lag(10, 10), vec![0, 1], false),
                    (40, lag(10, 10), vec![0, 1], false),
                    (60, lag(10, 10), vec![0, 1], false),
                ],
                vec![None, None, None, Some(Reason::NoProgress)],
            ),
            (
                "a group that never committed counts its whole topic as lag",
                vec![
                    (0, vec![p(0, None, 5)], vec![], false),
                    (1, vec![p(0, None, 5)], vec![], false),
                    (32, vec![p(0, None, 5)], vec![], false),
                ],
                vec![None, None, Some(Reason::NoPartitions)],
            ),
        ];
        for (name, steps, want) in cases {
            assert_eq!(run(&mut rule(), &steps), want, "{name}");
        }
    }

    #[test]
    fn health_fails_after_max_rejoins_without_progress_and_recovers_with_progress() {
        let mut rule = rule();
        let stuck = vec![p(0, Some(10), 100)];
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let observe =
            |rule: &mut StallRule, s: u64, partitions: &[PartitionLag], assigned: &[i32]| {
                let stall = rule.observe(
                    at(s),
                    Observation {
                        partitions,
                        assigned,
                        held: false,
                    },
                );
                if let Some(stall) = &stall {
                    rule.rejoined(stall.reason);
                }
                stall.is_some()
            };
        let mut rejoins = 0;
        let mut t = 0;
        while rejoins < 3 {
            assert!(rule.healthy(), "healthy before the third rejoin");
            if observe(&mut rule, t, &stuck, &[]) {
                rejoins += 1;
            }
            t += 10;
            assert!(t < 1000, "rejoins happen");
        }
        assert!(
            !rule.healthy(),
            "three rejoins without progress fail /healthz"
        );
        assert!(!observe(&mut rule, t, &[p(0, Some(50), 100)], &[0]));
        assert!(
            rule.healthy(),
            "committed progress on its own partition heals it"
        );
    }

    #[test]
    fn orphaned_rejoins_never_fail_health() {
        let mut rule = rule();
        let partitions = vec![p(0, Some(100), 100), p(1, Some(10), 100)];
        let mut t = 0;
        let mut rejoins = 0;
        while t < 1000 {
            let stall = rule.observe(
                Instant::now() + Duration::from_secs(t),
                Observation {
                    partitions: &partitions,
                    assigned: &[0],
                    held: false,
                },
            );
            if let Some(stall) = stall {
                rule.rejoined(stall.reason);
                rejoins += 1;
            }
            t += 10;
        }
        assert!(rejoins >= 3);
        assert!(rule.healthy());
    }
}
