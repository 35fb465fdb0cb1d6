//! Builders for check unit tests: evidence for a named scenario, relative to a fixed "now".

use jiff::{SignedDuration, Timestamp};

use super::{Ctx, Finding};
use crate::evidence::{Concurrency, Flavor, RunEvidence, ServerInfo, Source, Thresholds};
use crate::prefect::types::{Deployment, Flow, FlowRun, State, StateDetails, StateType, WorkPool, WorkQueue, Worker};

/// Every check id in SPEC 7, by section. Ids must never be renamed or reused.
pub const SPEC_IDS: &[&str] = &[
    "worker.none",
    "worker.offline",
    "worker.claimer-offline",
    "queue.not-polled",
    "pool.paused",
    "queue.paused",
    "deployment.paused",
    "deployment.missing",
    "run.orphaned",
    "run.infra-not-started",
    "run.late",
    "run.awaiting-slot",
    "slots.pool-full",
    "slots.queue-full",
    "slots.deployment-full",
    "slots.zombie-holder",
    "lease.expired",
    "pollers.duplicate",
    "poll.too-frequent",
    "worker.submit-failed",
    "run.crashed",
    "clock.skew",
    "agent.none",
    "worker.lost-connection",
    "infra.exited-cleanly",
    "infra.pull-step-failed",
    "infra.api-unreachable",
    "infra.api-auth",
    "infra.import-error",
    "k8s.image-pull",
    "k8s.unschedulable",
    "k8s.crash-loop",
    "k8s.oom-killed",
    "k8s.evicted",
    "k8s.container-config",
    "k8s.container-create",
    "k8s.mount-failed",
    "k8s.sandbox-failed",
    "k8s.job-create-failed",
    "k8s.forbidden",
    "k8s.job-missing",
    "k8s.job-failed",
    "k8s.node-not-ready",
    "k8s.pod-pending",
    "k8s.observer-missing",
    "k8s.image-pull-slow",
    "k8s.waiting-for-node",
    "k8s.scheduling-gated",
    "k8s.job-suspended",
    "k8s.disrupted",
    "k8s.worker-unhealthy",
    "ecs.image-pull",
    "ecs.resource-init",
    "ecs.container-start",
    "ecs.oom",
    "ecs.failed-to-start",
    "ecs.capacity",
    "ecs.network",
    "ecs.spot-interruption",
    "ecs.essential-exited",
    "ecs.task-missing",
    "ecs.cluster-missing",
    "ecs.stopped-not-crashed",
    "ecs.register-failed",
];

pub fn now() -> Timestamp {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

pub fn ago(secs: i64) -> Timestamp {
    now() - SignedDuration::from_secs(secs)
}

pub fn worker(name: &str, heartbeat_secs_ago: i64, interval: f64, status: &str) -> Worker {
    Worker {
        name: name.into(),
        last_heartbeat_time: Some(ago(heartbeat_secs_ago)),
        heartbeat_interval_seconds: Some(interval),
        status: Some(status.into()),
    }
}

pub fn state(ty: StateType, name: &str, secs_ago: i64) -> State {
    State {
        id: None,
        state_type: ty,
        name: Some(name.into()),
        timestamp: Some(ago(secs_ago)),
        message: None,
        state_details: StateDetails::default(),
    }
}

pub struct Scenario {
    ev: RunEvidence,
}

impl Scenario {
    fn base(state: State) -> Scenario {
        let run = FlowRun {
            id: "00000000-0000-4000-8000-000000000001".into(),
            name: "grinning-chimera".into(),
            flow_id: Some("f".into()),
            deployment_id: Some("d".into()),
            work_queue_id: Some("q-default".into()),
            work_queue_name: Some("default".into()),
            work_pool_name: Some("p".into()),
            state_type: Some(state.state_type.clone()),
            state_name: state.name.clone(),
            state: Some(state.clone()),
            created: Some(ago(3600)),
            expected_start_time: state.state_details.scheduled_time,
            next_scheduled_start_time: None,
            start_time: None,
            end_time: None,
            infrastructure_pid: None,
            run_count: 0,
            tags: vec![],
            labels: Default::default(),
            job_variables: None,
        };
        let ev = RunEvidence {
            server: ServerInfo {
                api_url: "http://127.0.0.1:4200/api".into(),
                version: Some("3.8.8".into()),
                flavor: Flavor::V3,
                clock: None,
            },
            flow_run: run,
            flow: Source::ok(Flow { id: "f".into(), name: "etl".into() }),
            states: Source::ok(vec![state]),
            deployment: Source::ok(Deployment {
                id: "d".into(),
                name: "nightly".into(),
                flow_id: Some("f".into()),
                paused: false,
                status: Some("READY".into()),
                work_pool_name: Some("p".into()),
                work_queue_name: Some("default".into()),
                last_polled: Some(ago(5)),
                global_concurrency_limit: None,
                concurrency_options: None,
                job_variables: None,
                infrastructure_document_id: None,
            }),
            work_pool: Source::ok(WorkPool {
                id: Some("pool-id".into()),
                name: "p".into(),
                pool_type: Some("process".into()),
                is_paused: false,
                concurrency_limit: None,
                status: Some("READY".into()),
                active_slots: None,
                base_job_template: None,
            }),
            work_queues: Source::ok(vec![WorkQueue {
                id: Some("q-default".into()),
                name: "default".into(),
                is_paused: false,
                concurrency_limit: None,
                priority: Some(1),
                last_polled: Some(ago(5)),
                status: Some("READY".into()),
                active_slots: None,
                work_pool_name: Some("p".into()),
            }]),
            workers: Source::ok(vec![worker("w1", 5, 30.0, "ONLINE")]),
            logs: Source::ok(vec![]),
            worker_events: Source::ok(vec![]),
            concurrency: Concurrency::default(),
            observation: None,
            infra_block: Source::skipped("the deployment names no infrastructure block"),
            kubernetes: Source::skipped("Kubernetes not consulted"),
            ecs: Source::skipped("ECS not consulted"),
        };
        Scenario { ev }
    }

    /// A run Late by `secs` (scheduled `secs` ago).
    pub fn late(secs: i64) -> Scenario {
        let mut st = state(StateType::Scheduled, "Late", 10);
        st.state_details.scheduled_time = Some(ago(secs));
        Scenario::base(st)
    }

    /// A run in PENDING/`name` for `secs`.
    pub fn pending_named(name: &str, secs: i64) -> Scenario {
        Scenario::base(state(StateType::Pending, name, secs))
    }

    pub fn pending(secs: i64) -> Scenario {
        Scenario::pending_named("Pending", secs)
    }

    pub fn running() -> Scenario {
        Scenario::base(state(StateType::Running, "Running", 60))
    }

    pub fn crashed(message: &str) -> Scenario {
        let mut st = state(StateType::Crashed, "Crashed", 60);
        st.message = Some(message.into());
        Scenario::base(st)
    }

    pub fn workers(mut self, w: Vec<Worker>) -> Self {
        self.ev.workers = Source::ok(w);
        self
    }

    pub fn pool_type(mut self, t: &str) -> Self {
        if let Source::Collected { value } = &mut self.ev.work_pool {
            value.pool_type = Some(t.into());
        }
        self
    }

    pub fn pool_paused(mut self) -> Self {
        if let Source::Collected { value } = &mut self.ev.work_pool {
            value.is_paused = true;
            value.status = Some("PAUSED".into());
        }
        self
    }

    pub fn queue(mut self, f: impl FnOnce(&mut WorkQueue)) -> Self {
        if let Source::Collected { value } = &mut self.ev.work_queues {
            f(&mut value[0]);
        }
        self
    }

    pub fn extra_queue(mut self, name: &str, last_polled_secs_ago: Option<i64>) -> Self {
        if let Source::Collected { value } = &mut self.ev.work_queues {
            value.push(WorkQueue {
                id: Some(format!("q-{name}")),
                name: name.into(),
                is_paused: false,
                concurrency_limit: None,
                priority: Some(2),
                last_polled: last_polled_secs_ago.map(ago),
                status: Some("READY".into()),
                active_slots: None,
                work_pool_name: Some("p".into()),
            });
        }
        self
    }

    pub fn deployment(mut self, f: impl FnOnce(&mut Deployment)) -> Self {
        if let Source::Collected { value } = &mut self.ev.deployment {
            f(value);
        }
        self
    }

    pub fn deployment_missing(mut self) -> Self {
        self.ev.deployment = Source::NotFound;
        self
    }

    pub fn run(mut self, f: impl FnOnce(&mut FlowRun)) -> Self {
        f(&mut self.ev.flow_run);
        self
    }

    pub fn evidence(mut self, f: impl FnOnce(&mut RunEvidence)) -> Self {
        f(&mut self.ev);
        self
    }

    pub fn build(self) -> RunEvidence {
        self.ev
    }
}

/// Runs every check at the fixed "now" with default thresholds.
pub fn all_findings(ev: &RunEvidence) -> Vec<Finding> {
    super::run_all(&Ctx::new(ev, now(), Thresholds::default()))
}

/// The findings of one check id.
pub fn findings(ev: &RunEvidence, id: &str) -> Vec<Finding> {
    all_findings(ev).into_iter().filter(|f| f.id == id).collect()
}
