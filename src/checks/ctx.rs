//! What every check needs to know about the run, derived once from the evidence.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::claims::{Claim, claimer, claims};
use super::judge::{Judge, Liveness};
use crate::evidence::{RunEvidence, Thresholds};
use crate::prefect::types::{FlowRun, StateType, WorkPool, WorkQueue, Worker};

/// Where the run is in its life, as far as being stuck goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// SCHEDULED (Scheduled, Late, AwaitingRetry): waiting for a worker to pick it up.
    Waiting,
    /// SCHEDULED/AwaitingConcurrencySlot: refused a slot by the deployment's limit.
    AwaitingSlot,
    /// PENDING (Pending, Submitting, InfrastructurePending): claimed, not yet running.
    Pending,
    Running,
    Cancelling,
    Paused,
    /// COMPLETED, FAILED, CANCELLED, CRASHED.
    Finished,
    Unknown,
}

impl Phase {
    /// Phases in which the run has not started and can be stuck.
    pub fn awaiting_start(self) -> bool {
        matches!(self, Phase::Waiting | Phase::AwaitingSlot | Phase::Pending)
    }

    /// Phases in which only a worker's poll can move the run on (SCHEDULED of any name).
    pub fn needs_poll(self) -> bool {
        matches!(self, Phase::Waiting | Phase::AwaitingSlot)
    }
}

/// A queue not polled for this long while workers are alive is not being watched (the foreman's own
/// NOT_READY timeout; workers poll every 10 s by default).
pub const QUEUE_POLL_STALE: Duration = Duration::from_secs(60);

pub struct Ctx<'a> {
    pub ev: &'a RunEvidence,
    pub thresholds: Thresholds,
    /// "Now" on the server's clock (our collection time, corrected by the `Date` header when the two
    /// clocks disagree noticeably), so ages of server timestamps are right even with a skewed clock.
    pub now: Timestamp,
}

impl<'a> Ctx<'a> {
    pub fn new(ev: &'a RunEvidence, collected_at: Timestamp, thresholds: Thresholds) -> Self {
        Ctx { ev, thresholds, now: ev.server.now(collected_at) }
    }

    pub fn run(&self) -> &'a FlowRun {
        &self.ev.flow_run
    }

    pub fn phase(&self) -> Phase {
        let run = self.run();
        match run.state_type() {
            Some(StateType::Scheduled) if run.state_name() == "AwaitingConcurrencySlot" => Phase::AwaitingSlot,
            Some(StateType::Scheduled) => Phase::Waiting,
            Some(StateType::Pending) => Phase::Pending,
            Some(StateType::Running) => Phase::Running,
            Some(StateType::Cancelling) => Phase::Cancelling,
            Some(StateType::Paused) => Phase::Paused,
            Some(StateType::Completed | StateType::Failed | StateType::Cancelled | StateType::Crashed) => {
                Phase::Finished
            }
            Some(StateType::Other(_)) | None => Phase::Unknown,
        }
    }

    /// Time elapsed since `t` (zero if `t` is in the future).
    pub fn since(&self, t: Timestamp) -> Duration {
        Duration::try_from(self.now.duration_since(t)).unwrap_or(Duration::ZERO)
    }

    /// When the current state began.
    pub fn state_since(&self) -> Option<Timestamp> {
        self.run().state.as_ref().and_then(|s| s.timestamp)
    }

    /// How long the run has been in its current state.
    pub fn in_state_for(&self) -> Option<Duration> {
        self.state_since().map(|t| self.since(t))
    }

    /// When a waiting run was due.
    pub fn scheduled_time(&self) -> Option<Timestamp> {
        let run = self.run();
        run.state
            .as_ref()
            .and_then(|s| s.state_details.scheduled_time)
            .or(run.next_scheduled_start_time)
            .or(run.expected_start_time)
    }

    /// How late a waiting run is (negative: due in the future). A run refused a concurrency slot is
    /// rescheduled 30 s ahead at every refusal, so its lateness counts from when it was first due.
    pub fn lateness(&self) -> Option<SignedDuration> {
        self.run().due_at().map(|t| self.now.duration_since(t))
    }

    /// Whether the run has waited past its threshold: the condition for calling it stuck.
    pub fn is_stuck(&self) -> bool {
        match self.phase() {
            Phase::Waiting | Phase::AwaitingSlot => {
                self.lateness().is_some_and(|l| l > SignedDuration::try_from(self.thresholds.late).unwrap_or_default())
            }
            Phase::Pending => self.in_state_for().is_some_and(|d| d > self.thresholds.pending),
            _ => false,
        }
    }

    pub fn pool(&self) -> Option<&'a WorkPool> {
        self.ev.work_pool.value()
    }

    pub fn pool_name(&self) -> Option<&'a str> {
        self.run().work_pool_name.as_deref().or(self.pool().map(|p| p.name.as_str()))
    }

    pub fn queue_name(&self) -> Option<&'a str> {
        self.run().work_queue_name.as_deref()
    }

    /// The run's own queue among the pool's queues (by id, else by name).
    pub fn queue(&self) -> Option<&'a WorkQueue> {
        let queues = self.ev.work_queues.value()?;
        let run = self.run();
        run.work_queue_id
            .as_deref()
            .and_then(|id| queues.iter().find(|q| q.id.as_deref() == Some(id)))
            .or_else(|| queues.iter().find(|q| Some(q.name.as_str()) == run.work_queue_name.as_deref()))
    }

    pub fn workers(&self) -> Option<&'a [Worker]> {
        self.ev.workers.value().map(Vec::as_slice)
    }

    /// Push and managed pools run without workers.
    pub fn pool_needs_worker(&self) -> bool {
        self.pool()
            .and_then(|p| p.pool_type.as_deref())
            .is_none_or(|t| !(t.ends_with(":push") || t == "prefect:managed"))
    }

    /// Prefect 2 agent pools: agents poll queues but leave no worker records.
    pub fn is_agent_pool(&self) -> bool {
        self.pool().and_then(|p| p.pool_type.as_deref()) == Some("prefect-agent")
    }

    /// Worker and holder judgements at this "now", for this pool.
    pub fn judge(&self) -> Judge<'a> {
        Judge {
            now: self.now,
            pending_threshold: self.thresholds.pending,
            pool: self.pool_name(),
            workers: self.workers(),
            logs: self.ev.concurrency.holder_logs.value().map(Vec::as_slice),
            summaries_only: None,
        }
    }

    pub fn liveness(&self, w: &Worker) -> Liveness {
        self.judge().liveness(w)
    }

    pub fn worker_named(&self, name: &str) -> Option<&'a Worker> {
        self.judge().worker_named(name)
    }

    /// Workers that tried to submit this run.
    pub fn claims(&self) -> Vec<Claim> {
        claims(self.run(), self.ev.worker_events.value().map_or(&[], |v| v), self.ev.logs.value().map_or(&[], |v| v))
    }

    /// The worker that claimed this run, if the evidence names one.
    pub fn claimer(&self) -> Option<Claim> {
        claimer(self.run(), self.ev.worker_events.value().map_or(&[], |v| v), self.ev.logs.value().map_or(&[], |v| v))
    }

    /// "worker 'w' is offline ..." when the named worker is offline or has no record in the pool.
    pub fn worker_gone(&self, name: &str) -> Option<String> {
        self.judge().worker_gone(name)
    }

    pub fn online_workers(&self) -> Vec<&'a Worker> {
        self.judge().online()
    }

    /// "worker 'w1': offline, last heartbeat 14m ago ...".
    pub fn describe_worker(&self, w: &Worker) -> String {
        self.judge().describe_worker(w)
    }

    /// `work-pool/<name>` for finding subjects.
    pub fn pool_subject(&self) -> Option<String> {
        self.pool_name().map(|p| format!("work-pool/{p}"))
    }

    pub fn queue_subject(&self) -> Option<String> {
        Some(format!("work-queue/{}/{}", self.pool_name()?, self.queue_name()?))
    }

    pub fn run_subject(&self) -> String {
        format!("flow-run/{}", self.run().id)
    }

    /// What the Kubernetes checks' view borrows: the run's flow-run log messages (the worker's own
    /// reports) and its state name.
    pub fn kube_inputs(&self) -> (Vec<String>, String) {
        let lines = self.ev.logs.value().map(|l| l.iter().map(|l| l.message.clone()).collect()).unwrap_or_default();
        (lines, self.run().state_name())
    }

    /// The run as the Kubernetes checks see it.
    pub fn kube_view<'b>(&'b self, inputs: &'b (Vec<String>, String)) -> super::k8s::RunView<'b> {
        let run = self.run();
        let saw_infrastructure_pending = self
            .ev
            .states
            .value()
            .is_some_and(|states| states.iter().any(|s| s.name.as_deref() == Some("InfrastructurePending")))
            || inputs.1 == "InfrastructurePending";
        super::k8s::RunView {
            run_id: &run.id,
            state_type: run.state_type().map_or("", |t| t.as_str()),
            state_name: &inputs.1,
            state_since: self.state_since().unwrap_or(self.now),
            saw_infrastructure_pending,
            now: self.now,
            pending_threshold: self.thresholds.pending,
            worker_log_lines: &inputs.0,
        }
    }

    /// The run as the ECS checks see it (the same inputs as `kube_view`).
    pub fn ecs_view<'b>(&'b self, inputs: &'b (Vec<String>, String)) -> super::ecs::RunView<'b> {
        let run = self.run();
        super::ecs::RunView {
            run_id: &run.id,
            state_type: run.state_type().map_or("", |t| t.as_str()),
            state_name: &inputs.1,
            state_since: self.state_since().unwrap_or(self.now),
            now: self.now,
            pending_threshold: self.thresholds.pending,
            worker_log_lines: &inputs.0,
        }
    }

    /// Container output the infrastructure backends read (pod logs, the ECS task's CloudWatch tail),
    /// as log lines of the container.
    pub fn container_log_lines(&self) -> Vec<crate::prefect::types::LogLine> {
        let mut lines = self.ecs_log_lines();
        let Some(kube) = self.ev.kubernetes.value() else { return lines };
        lines.extend(
            kube.logs
                .iter()
                .flat_map(|t| {
                    let name = format!("pod/{}/{}{}", t.pod, t.container, if t.previous { " (previous)" } else { "" });
                    t.lines.iter().map(move |l| crate::prefect::types::LogLine {
                        name: Some(name.clone()),
                        level: 0,
                        message: l.clone(),
                        timestamp: None,
                    })
                })
                .collect::<Vec<_>>(),
        );
        lines
    }

    fn ecs_log_lines(&self) -> Vec<crate::prefect::types::LogLine> {
        use crate::evidence::ecs::ContainerLogs;
        match self.ev.ecs.value().and_then(|e| e.logs.as_ref()) {
            Some(ContainerLogs::LogTail { group, stream, lines, .. }) => lines
                .iter()
                .map(|l| crate::prefect::types::LogLine {
                    name: Some(format!("cloudwatch/{group}/{stream}")),
                    level: 0,
                    message: l.clone(),
                    timestamp: None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::checks::testkit::*;
    use crate::evidence::ClockReading;

    /// With our clock 10 minutes fast, a worker that beat 5 s ago on the server's clock is still online.
    #[test]
    fn ages_are_judged_on_the_server_clock() {
        let ev = Scenario::late(900)
            .workers(vec![worker("w1", 5, 30.0, "ONLINE")])
            .evidence(|ev| {
                ev.server.clock = Some(ClockReading { server: now(), local: now() + SignedDuration::from_mins(10) });
            })
            .build();
        let local_now = now() + SignedDuration::from_mins(10);
        let ctx = Ctx::new(&ev, local_now, Thresholds::default());
        assert_eq!(ctx.now, now());
        assert!(ctx.liveness(&ev.workers.value().unwrap()[0]).is_online());
        // A small skew (under 5 s) is left alone: the Date header has one-second resolution.
        let ev = Scenario::late(900)
            .evidence(|ev| {
                ev.server.clock = Some(ClockReading { server: now(), local: now() + SignedDuration::from_secs(2) })
            })
            .build();
        assert_eq!(Ctx::new(&ev, now(), Thresholds::default()).now, now());
    }
}
