//! Concurrency: full pool/queue/deployment limits and who holds their slots, holders that look dead,
//! runs waiting for a slot, and deployment leases that expired while Pending.
//! (`slots.pool-full`, `slots.queue-full`, `slots.deployment-full`, `slots.zombie-holder`,
//! `run.awaiting-slot`, `lease.expired`)

use std::time::Duration;

use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Judge, Kind, Phase, Severity, sh};
use crate::evidence::Source;
use crate::fmt::{ago, count, human};
use crate::prefect::types::{FlowRun, StateType};

/// At most this many holders are listed in a finding (the slots commands list them all).
const LIST: usize = 10;
/// Prefect's default lease for a deployment slot taken at Pending (nothing renews it before Running).
const DEFAULT_LEASE: Duration = Duration::from_secs(300);

fn holder_lines(ctx: &Ctx<'_>, holders: &[&FlowRun]) -> Vec<String> {
    let mut sorted: Vec<&&FlowRun> = holders.iter().collect();
    sorted.sort_by_key(|r| r.state.as_ref().and_then(|s| s.timestamp));
    let mut lines: Vec<String> = sorted.iter().take(LIST).map(|r| ctx.judge().describe_holder(r)).collect();
    if holders.len() > LIST {
        lines.push(format!("… and {} more holders", holders.len() - LIST));
    }
    lines
}

/// Holders of one limit other than the run itself.
fn others<'a>(ctx: &Ctx<'a>, part: &'a Source<Vec<FlowRun>>) -> Option<Vec<&'a FlowRun>> {
    Some(part.value()?.iter().filter(|r| r.id != ctx.run().id).collect())
}

pub const POOL_FULL: Check = Check {
    info: CheckInfo {
        id: "slots.pool-full",
        title: "the work pool's concurrency limit is full",
        kind: Kind::Cause,
        item: Item::Concurrency,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: when the run waits in a pool with a concurrency limit, counts the runs holding the pool's
slots (PENDING and RUNNING, the server's own active_slots where it reports them) and lists them with their
state, time in state and whether the worker that claimed them is alive.

Why it matters: workers hand out no runs while a pool's limit is full, so Scheduled runs turn Late.
Runs stuck in Pending count against the limit just like running ones, so a few orphaned Pending runs
can starve a whole pool (Prefect's own support playbook; PrefectHQ/prefect#17415).",
        remediation: &[
            "See every holder and whether it is alive: unstuck work-pool slots <POOL>",
            "Cancel holders that are dead: prefect flow-run cancel <RUN_ID>",
            "Or raise the limit: prefect work-pool set-concurrency-limit <POOL> <N>",
        ],
    },
    run: pool_full,
};

/// A pool's or queue's limit that is full while the run waits for it.
struct FullLimit<'a> {
    info: &'static CheckInfo,
    /// "work pool", "work queue"
    what: &'static str,
    name: &'a str,
    /// "Work pool 'p'", "Work queue 'q' of pool 'p'"
    label: String,
    /// The states that count against the limit, for the evidence.
    holding: &'static str,
    limit: Option<u64>,
    /// The server's count, when it gives one.
    active: Option<u64>,
    holders: &'a [FlowRun],
    see: String,
    raise: String,
    subject: Option<String>,
}

fn full_limit(ctx: &Ctx<'_>, l: FullLimit<'_>) -> Vec<Finding> {
    let Some(limit) = l.limit else { return vec![] };
    let active = l.active.unwrap_or(l.holders.len() as u64);
    if !ctx.phase().needs_poll() || active < limit {
        return vec![];
    }
    let refs: Vec<&FlowRun> = l.holders.iter().collect();
    let mut f =
        Finding::new(l.info, Severity::Critical, format!("{} is at its concurrency limit ({active}/{limit})", l.label))
            .detail(full_detail(l.what, l.name, limit, active, &refs, ctx))
            .evidence(format!("{} '{}': concurrency_limit {limit}, {active} active ({})", l.what, l.name, l.holding))
            .evidence_all(holder_lines(ctx, &refs))
            .fix(l.see);
    f = cancel_zombies(ctx, f, &refs).fix(l.raise);
    if let Some(s) = l.subject {
        f = f.subject(s);
    }
    vec![f]
}

fn pool_full(ctx: &Ctx<'_>) -> Vec<Finding> {
    let (Some(pool), Some(holders)) = (ctx.pool(), ctx.ev.concurrency.pool_holders.value()) else { return vec![] };
    let limit = pool.concurrency_limit;
    full_limit(
        ctx,
        FullLimit {
            info: &POOL_FULL.info,
            what: "work pool",
            name: &pool.name,
            label: format!("Work pool '{}'", pool.name),
            holding: "PENDING or RUNNING",
            limit,
            active: pool.active_slots,
            holders,
            see: format!("See every holder and whether it is alive: unstuck work-pool slots {}", sh(&pool.name)),
            raise: format!(
                "Or raise the limit: prefect work-pool set-concurrency-limit {} {}",
                sh(&pool.name),
                limit.unwrap_or_default() + 1
            ),
            subject: ctx.pool_subject(),
        },
    )
}

fn full_detail(what: &str, name: &str, limit: u64, active: u64, holders: &[&FlowRun], ctx: &Ctx<'_>) -> String {
    if limit == 0 {
        return format!("The {what} '{name}' has a concurrency limit of 0: it will never start a run.");
    }
    let zombies = holders.iter().filter(|r| ctx.judge().zombie_reason(r).is_some()).count();
    let taken = if limit == 1 {
        format!("The only slot of {what} '{name}' is taken")
    } else {
        format!("All {limit} slots of {what} '{name}' are taken ({active} active)")
    };
    let mut d = format!("{taken}, so no worker will start this run until one is freed.");
    match zombies {
        0 => {}
        1 if holders.len() == 1 => d.push_str(" Its holder looks dead and will never free the slot by itself."),
        1 => d.push_str(" One holder looks dead and will never free its slot by itself."),
        n => d.push_str(&format!(" {n} holders look dead and will never free their slots by themselves.")),
    }
    d
}

fn cancel_zombies(ctx: &Ctx<'_>, mut f: Finding, holders: &[&FlowRun]) -> Finding {
    for r in holders.iter().filter(|r| r.id != ctx.run().id && ctx.judge().zombie_reason(r).is_some()).take(LIST) {
        f = f.fix(cancel_command(r));
    }
    f
}

/// The command that frees the slot held by a dead run: cancel it, or force a stuck cancellation to finish.
pub fn cancel_command(r: &FlowRun) -> String {
    if r.state_type() == Some(&StateType::Cancelling) {
        format!(
            "Force the stuck cancellation of '{}' to finish: curl -X POST \"$PREFECT_API_URL/flow_runs/{}/set_state\" \
             -H 'Content-Type: application/json' -d '{{\"state\": {{\"type\": \"CANCELLED\"}}, \"force\": true}}'",
            r.name, r.id
        )
    } else {
        format!("Free the slot held by dead run '{}': prefect flow-run cancel {}", r.name, r.id)
    }
}

pub const QUEUE_FULL: Check = Check {
    info: CheckInfo {
        id: "slots.queue-full",
        title: "the work queue's concurrency limit is full",
        kind: Kind::Cause,
        item: Item::Concurrency,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: when the run waits in a work queue with a concurrency limit, counts the runs holding the
queue's slots (PENDING, RUNNING and CANCELLING) and lists them with their state, time in state and
whether their worker is alive.

Why it matters: a full queue gets no runs from its workers while other queues of the pool keep flowing,
so only some deployments' runs turn Late. Runs stuck Pending or stuck Cancelling hold queue slots until
someone moves them on.",
        remediation: &[
            "See every holder: unstuck work-queue slots <QUEUE> --pool <POOL>",
            "Cancel holders that are dead: prefect flow-run cancel <RUN_ID>",
            "Or raise the limit: prefect work-queue set-concurrency-limit <QUEUE> <N> --pool <POOL>",
        ],
    },
    run: queue_full,
};

fn queue_full(ctx: &Ctx<'_>) -> Vec<Finding> {
    let (Some(queue), Some(pool), Some(holders)) =
        (ctx.queue(), ctx.pool_name(), ctx.ev.concurrency.queue_holders.value())
    else {
        return vec![];
    };
    let limit = queue.concurrency_limit;
    full_limit(
        ctx,
        FullLimit {
            info: &QUEUE_FULL.info,
            what: "work queue",
            name: &queue.name,
            label: format!("Work queue '{}' of pool '{pool}'", queue.name),
            holding: "PENDING, RUNNING or CANCELLING",
            limit,
            active: queue.active_slots,
            holders,
            see: format!("See every holder: unstuck work-queue slots {} --pool {}", sh(&queue.name), sh(pool)),
            raise: format!(
                "Or raise the limit: prefect work-queue set-concurrency-limit {} {} --pool {}",
                sh(&queue.name),
                limit.unwrap_or_default() + 1,
                sh(pool)
            ),
            subject: ctx.queue_subject(),
        },
    )
}

pub const DEPLOYMENT_FULL: Check = Check {
    info: CheckInfo {
        id: "slots.deployment-full",
        title: "the deployment's concurrency limit is full",
        kind: Kind::Cause,
        item: Item::Concurrency,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: reads the deployment's concurrency limit (Prefect 3: a global concurrency limit named
deployment:<id>), compares its active slots with the limit, and lists the deployment's runs that hold
slots (PENDING, RUNNING, CANCELLING with a concurrency lease).

Why it matters: when the limit is full, the server refuses Pending to the deployment's next run and parks
it in Scheduled/AwaitingConcurrencySlot (or cancels it with collision strategy CANCEL_NEW). A slot is
taken at Pending, so runs stuck in Pending hold it. It also shows when the limit's active slots disagree
with the runs that should hold them: slots leak when leases are lost (for example a server restart with
the default in-memory lease storage) and pile up when leases expire.",
        remediation: &[
            "See the holders: unstuck deployment slots <FLOW>/<DEPLOYMENT>",
            "Cancel holders that are dead: prefect flow-run cancel <RUN_ID>",
            "Reset leaked slots: prefect gcl update deployment:<DEPLOYMENT_ID> --active-slots <N>",
        ],
    },
    run: deployment_full,
};

/// Deployment holders that carry a concurrency lease.
fn lease_holders(holders: &[FlowRun]) -> Vec<&FlowRun> {
    holders
        .iter()
        .filter(|r| r.state.as_ref().is_some_and(|s| s.state_details.deployment_concurrency_lease_id.is_some()))
        .collect()
}

fn deployment_full(ctx: &Ctx<'_>) -> Vec<Finding> {
    let Some(dep) = ctx.ev.deployment.value() else { return vec![] };
    let Some(gcl) = dep.global_concurrency_limit.as_ref().filter(|g| g.active) else { return vec![] };
    let (Some(limit), Some(active)) = (gcl.limit, gcl.active_slots) else { return vec![] };
    if !ctx.phase().needs_poll() || active < limit {
        return vec![];
    }
    let holders = ctx.ev.concurrency.deployment_holders.value().map(Vec::as_slice).unwrap_or_default();
    let leased = lease_holders(holders);
    let refs: Vec<&FlowRun> = holders.iter().collect();
    let mut f = Finding::new(
        &DEPLOYMENT_FULL.info,
        Severity::Critical,
        format!("Deployment '{}' is at its concurrency limit ({active}/{limit})", dep.name),
    )
    .detail(full_detail("deployment", &dep.name, limit, active, &refs, ctx))
    .evidence(format!(
        "concurrency limit {}: limit {limit}, active_slots {active}; {} of the deployment hold a lease",
        gcl.name.as_deref().unwrap_or("deployment"),
        count(leased.len(), "run")
    ))
    .evidence_all(holder_lines(ctx, &refs));
    // Servers from before deployment leases (early 3.x) record none: every holder owns a slot.
    let owners = if leased.is_empty() { holders.len() } else { leased.len() } as u64;
    if ctx.ev.concurrency.deployment_holders.value().is_some() && owners < active {
        let leaked = active - owners;
        f.detail.push_str(&format!(
            " {} taken by no run: {} leaked (a lease lost, e.g. when the server restarted with the default in-memory \
             lease storage), and will not come back by themselves.",
            count(leaked as usize, "slot is"),
            if leaked == 1 { "it" } else { "they" }
        ));
        f = f.fix(format!(
            "Give back the leaked slots: prefect gcl update {} --active-slots {}",
            sh(gcl.name.as_deref().unwrap_or("deployment")),
            owners
        ));
    }
    f = cancel_zombies(ctx, f, &refs);
    vec![f.subject(format!("deployment/{}", dep.id))]
}

pub const ZOMBIE_HOLDER: Check = Check {
    info: CheckInfo {
        id: "slots.zombie-holder",
        title: "a concurrency slot is held by a run that looks dead",
        kind: Kind::Cause,
        item: Item::Concurrency,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: among the runs holding slots of the run's pool, queue and deployment limits, finds the ones
that look dead: Pending past --pending-threshold whose claiming worker is offline or gone (or with no
worker and no infrastructure on record), Cancelling for longer than the threshold, or Running while their
worker is offline and they have stopped logging.

Why it matters: a dead holder never gives its slot back. When the limit is full that is exactly why the
run waits (a cause); otherwise it is capacity lost until someone cancels it (a risk). Users keep asking
\"which run holds the slot, since when, and is it alive?\" (PrefectHQ/prefect#17415, #17563).",
        remediation: &[
            "Cancel it: prefect flow-run cancel <RUN_ID>",
            "For a run stuck in Cancelling, force it to Cancelled with the API (see the finding)",
            "Find out why its worker died, so it does not happen again",
        ],
    },
    run: zombie_holder,
};

fn zombie_holder(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !ctx.phase().awaiting_start() {
        return vec![];
    }
    let c = &ctx.ev.concurrency;
    let zombies: Vec<(&FlowRun, String)> = c
        .all_holders()
        .into_iter()
        .filter(|r| r.id != ctx.run().id)
        .filter_map(|r| ctx.judge().zombie_reason(r).map(|why| (r, why)))
        .collect();
    if zombies.is_empty() {
        return vec![];
    }
    // A zombie in a limit that is full while the run waits for it is why the run waits.
    let blocking = ctx.phase().needs_poll()
        && [
            (
                ctx.pool().and_then(|p| {
                    p.concurrency_limit.zip(p.active_slots.or(c.pool_holders.value().map(|h| h.len() as u64)))
                }),
                &c.pool_holders,
            ),
            (
                ctx.queue().and_then(|q| {
                    q.concurrency_limit.zip(q.active_slots.or(c.queue_holders.value().map(|h| h.len() as u64)))
                }),
                &c.queue_holders,
            ),
            (
                ctx.ev
                    .deployment
                    .value()
                    .and_then(|d| d.global_concurrency_limit.as_ref())
                    .and_then(|g| g.limit.zip(g.active_slots)),
                &c.deployment_holders,
            ),
        ]
        .iter()
        .any(|(usage, holders)| {
            usage.is_some_and(|(limit, active)| active >= limit)
                && others(ctx, holders).is_some_and(|h| h.iter().any(|r| zombies.iter().any(|(z, _)| z.id == r.id)))
        });
    let unjudged = c.all_holders().into_iter().filter(|r| r.id != ctx.run().id && ctx.judge().unjudged(r)).count();
    let f = if blocking {
        zombie_finding(
            Severity::Critical,
            "The limit this run waits for is full, and dead runs hold its slots: they will never give them back.",
            &zombies,
            unjudged,
        )
    } else {
        zombie_finding(
            Severity::Warning,
            "Dead runs hold concurrency slots: capacity lost until someone cancels them.",
            &zombies,
            unjudged,
        )
        .map(|f| f.kind(Kind::Risk))
    };
    f.into_iter().collect()
}

/// The `slots.zombie-holder` finding (for `doctor` and the slots commands): each zombie (up to `LIST`)
/// with why it looks dead and the command that frees its slot, and how many holders went unjudged.
/// No zombie, no finding.
pub fn zombie_finding(
    severity: Severity,
    detail: &str,
    zombies: &[(&FlowRun, String)],
    unjudged: usize,
) -> Option<Finding> {
    let (first, _) = zombies.first()?;
    let mut f = Finding::new(
        &ZOMBIE_HOLDER.info,
        severity,
        match zombies.len() {
            1 => format!("Run '{}' holds a concurrency slot but looks dead", first.name),
            n => format!("{n} runs hold concurrency slots but look dead"),
        },
    )
    .detail(detail)
    .evidence_all(zombies.iter().take(LIST).map(|(r, why)| format!("run '{}' ({}): {why}", r.name, r.id)));
    if zombies.len() > LIST {
        f = f.evidence(format!("… and {} more", zombies.len() - LIST));
    }
    if unjudged > 0 {
        f = f.evidence(Judge::unjudged_note(unjudged));
    }
    for (r, _) in zombies.iter().take(LIST) {
        f = f.fix(cancel_command(r));
    }
    Some(f.subject(format!("flow-run/{}", first.id)))
}

pub const AWAITING_SLOT: Check = Check {
    info: CheckInfo {
        id: "run.awaiting-slot",
        title: "the run waits for a deployment concurrency slot (AwaitingConcurrencySlot)",
        kind: Kind::Cause,
        item: Item::Concurrency,
        backend: Backend::Prefect,
        symptom: true,
        unexplained: "",
        explanation: "\
What it does: reports a run in Scheduled/AwaitingConcurrencySlot: a worker tried to start it, and the
server refused because the deployment's concurrency limit was full, rescheduling it 30 s later.

Why it matters: this is a symptom; the slots.deployment-full finding names who holds the slots. When
the limit has free slots and the run still waits, it is starving: each refusal reschedules it 30 s ahead
(PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS) while workers only look 10 s ahead
(PREFECT_WORKER_PREFETCH_SECONDS), so it can be passed over again and again (PrefectHQ/prefect#16027).
Such runs are never marked Late.",
        remediation: &[
            "See who holds the deployment's slots: unstuck deployment slots <FLOW>/<DEPLOYMENT>",
            "If slots are free and the run still waits, raise the worker's PREFECT_WORKER_PREFETCH_SECONDS above 30",
        ],
    },
    run: awaiting_slot,
};

fn awaiting_slot(ctx: &Ctx<'_>) -> Vec<Finding> {
    if ctx.phase() != Phase::AwaitingSlot {
        return vec![];
    }
    let Some(for_) = ctx.in_state_for() else { return vec![] };
    let dep = ctx.ev.deployment.value();
    let usage = dep.and_then(|d| d.global_concurrency_limit.as_ref()).and_then(|g| g.limit.zip(g.active_slots));
    let name = dep.map(|d| d.name.clone()).unwrap_or_else(|| "the deployment".into());
    let mut f = Finding::new(
        &AWAITING_SLOT.info,
        Severity::Error,
        format!("The run has waited {} for a concurrency slot of deployment '{name}'", human(for_)),
    )
    .evidence(format!(
        "state AwaitingConcurrencySlot since {}; next attempt at {}",
        ctx.state_since().map(|t| t.to_string()).unwrap_or_default(),
        ctx.scheduled_time().map(|t| t.to_string()).unwrap_or_else(|| "unknown".into())
    ));
    f = match usage {
        Some((limit, active)) if active < limit => f
            .detail(format!(
                "The deployment's limit has {} free now ({active}/{limit}), yet the run still waits: each refusal \
                 reschedules it 30 s ahead while workers only look 10 s ahead, so it can be passed over repeatedly.",
                count((limit - active) as usize, "slot")
            ))
            .fix("Let workers look further ahead: PREFECT_WORKER_PREFETCH_SECONDS=45 prefect worker start ..."),
        Some((limit, active)) => f.detail(format!(
            "The server refused the run a slot: the deployment's concurrency limit is full ({active}/{limit})."
        )),
        None => f.detail("The server refused the run a slot of its deployment's concurrency limit."),
    };
    if let (Some(d), Some(flow)) = (dep, ctx.ev.flow.value()) {
        f = f.fix(format!(
            "See who holds the slots: unstuck deployment slots {}",
            sh(&format!("{}/{}", flow.name, d.name))
        ));
    }
    vec![f.subject(ctx.run_subject())]
}

pub const LEASE_EXPIRED: Check = Check {
    info: CheckInfo {
        id: "lease.expired",
        title: "the run's deployment concurrency lease expired while it was Pending",
        kind: Kind::Risk,
        item: Item::Concurrency,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does (Prefect 3): a run takes a slot of its deployment's concurrency limit when it becomes
Pending, with a lease (300 s by default, or the deployment's grace_period_seconds) that only the flow
engine renews once the run starts. When the limit's active slots are fewer than the runs that carry a
lease, leases have expired; leases expire oldest first, and Running runs renew theirs, so unstuck
reports the Pending run when it is among the oldest Pending lease holders. Without the holders it falls
back to the lease's age against the configured or default duration.

Why it matters: once the lease expires the server's repossessor frees the slot while the run stays
Pending. When the run finally starts, Prefect must re-acquire a slot; if none is free it cancels the run
(\"Deployment concurrency slot lost during provisioning\"). Meanwhile another run may take the slot.",
        remediation: &[
            "Fix what keeps the run from starting (see the other findings)",
            "Give slow-starting infrastructure more time: raise concurrency_options.grace_period_seconds on the deployment",
        ],
    },
    run: lease_expired,
};

fn lease_expired(ctx: &Ctx<'_>) -> Vec<Finding> {
    let run = ctx.run();
    if ctx.phase() != Phase::Pending {
        return vec![];
    }
    let Some(lease) = run.state.as_ref().and_then(|s| s.state_details.deployment_concurrency_lease_id.clone()) else {
        return vec![];
    };
    let Some(dep) = ctx.ev.deployment.value() else { return vec![] };
    let Some(gcl) = dep.global_concurrency_limit.as_ref() else { return vec![] };
    let ttl = dep
        .concurrency_options
        .as_ref()
        .and_then(|o| o.grace_period_seconds)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LEASE);
    // The lease was taken with the first state that carries it.
    let taken = ctx
        .ev
        .states
        .value()
        .and_then(|states| {
            states
                .iter()
                .find(|s| s.state_details.deployment_concurrency_lease_id.as_deref() == Some(lease.as_str()))
                .and_then(|s| s.timestamp)
        })
        .or(ctx.state_since());
    let held = taken.map(|t| ctx.since(t)).unwrap_or_default();
    let active = gcl.active_slots.unwrap_or_default();
    let name = gcl.name.as_deref().unwrap_or("deployment limit");

    let evidence_count = match ctx.ev.concurrency.deployment_holders.value() {
        Some(holders) => {
            // The server's count says how many leases are gone; the oldest Pending holders lost them.
            let leased = lease_holders(holders);
            let expired = (leased.len() as u64).saturating_sub(active) as usize;
            let mut pending: Vec<&&FlowRun> =
                leased.iter().filter(|r| r.state_type() == Some(&StateType::Pending)).collect();
            pending.sort_by_key(|r| (r.expected_start_time, r.state.as_ref().and_then(|s| s.timestamp)));
            if expired == 0 || !pending.iter().take(expired).any(|r| r.id == run.id) {
                return vec![];
            }
            format!(
                "{name}: active_slots {active}, but {} of the deployment carry a lease: {} expired",
                count(leased.len(), "run"),
                count(expired, "lease")
            )
        }
        None if held > ttl => format!("{name}: active_slots {active}; the run's slot holders could not be read"),
        None => return vec![],
    };
    let f = Finding::new(
        &LEASE_EXPIRED.info,
        Severity::Warning,
        format!("The run's deployment concurrency lease expired while it was Pending ({})", human(held)),
    )
    .detail(format!(
        "The run took a slot of deployment '{}' {} ago with a lease that is only renewed once the run starts; the \
         server has given the slot back. When the run starts, Prefect must find a free slot again or cancel it \
         (\"Deployment concurrency slot lost during provisioning\").",
        dep.name,
        human(held)
    ))
    .evidence(format!(
        "lease {lease} taken {}",
        taken.map(|t| format!("at {t} ({})", ago(ctx.since(t)))).unwrap_or_default()
    ))
    .evidence(evidence_count)
    .fix("Fix what keeps the run from starting (see the other findings)")
    .fix(
        "Give slow-starting infrastructure more time: raise the deployment's concurrency_options.grace_period_seconds",
    );
    vec![f.subject(ctx.run_subject())]
}

#[cfg(test)]
mod tests {
    use crate::checks::Kind;
    use crate::checks::testkit::*;
    use crate::evidence::{RunLogs, Source};
    use crate::prefect::types::{FlowRun, GlobalConcurrencyLimit, StateType};

    fn holder(name: &str, ty: StateType, state: &str, secs: i64, worker: Option<&str>) -> FlowRun {
        let mut r = Scenario::pending(secs).build().flow_run;
        r.id = format!("00000000-0000-4000-8000-{:012}", name.len() * 7 + secs as usize);
        r.name = name.into();
        r.state = Some(super::super::testkit::state(ty.clone(), state, secs));
        r.state_type = Some(ty);
        if let Some(w) = worker {
            r.labels.insert("prefect.worker.name".into(), w.into());
        }
        r
    }

    /// A Late run in a full pool: pool-full is primary and names the holders; the dead one is a zombie.
    #[test]
    fn full_pool_names_holders_and_zombies() {
        let ev = Scenario::late(900)
            .evidence(|ev| {
                if let Source::Collected { value } = &mut ev.work_pool {
                    value.concurrency_limit = Some(2);
                    value.active_slots = Some(2);
                }
                ev.concurrency.pool_holders = Source::ok(vec![
                    holder("alive", StateType::Running, "Running", 60, Some("w1")),
                    holder("dead", StateType::Pending, "Submitting", 1800, Some("w-dead")),
                ]);
            })
            .workers(vec![worker("w1", 3, 30.0, "ONLINE"), worker("w-dead", 1700, 30.0, "OFFLINE")])
            .build();
        let ranked = crate::report::rank(all_findings(&ev));
        let ids: Vec<_> = ranked.iter().map(|r| r.finding.id).collect();
        assert_eq!(&ids[..2], ["slots.pool-full", "slots.zombie-holder"], "{ids:?}");
        let pool = &ranked[0].finding;
        assert!(pool.title.contains("(2/2)"));
        assert!(
            pool.evidence.iter().any(|e| e.contains("run 'dead'") && e.contains("[ZOMBIE: Submitting for 30m")),
            "{:?}",
            pool.evidence
        );
        assert!(pool.evidence.iter().any(|e| e.contains("run 'alive'") && e.contains("worker 'w1' online")));
        assert!(pool.remediation.iter().any(|r| r.contains("prefect flow-run cancel")));
        assert_eq!(ranked[1].finding.kind, Kind::Cause);
    }

    /// 60 Running holders of a dead worker; logs were read for the 50 longest-held (all silent): those
    /// are zombies, and the finding says 10 more could not be judged.
    #[test]
    fn holders_without_logs_are_counted_not_judged() {
        let holders: Vec<FlowRun> = (0..60)
            .map(|i| {
                let mut r = holder("h", StateType::Running, "Running", 3600 - i, Some("w-dead"));
                r.id = format!("00000000-0000-4000-8000-{:012}", 1000 + i);
                r
            })
            .collect();
        let logs: Vec<RunLogs> = holders
            .iter()
            .take(50)
            .map(|r| RunLogs { run_id: r.id.clone(), lines: vec![], silent_since: None })
            .collect();
        let ev = Scenario::late(900)
            .evidence(move |ev| {
                if let Source::Collected { value } = &mut ev.work_pool {
                    value.concurrency_limit = Some(60);
                    value.active_slots = Some(60);
                }
                ev.concurrency.pool_holders = Source::ok(holders);
                ev.concurrency.holder_logs = Source::ok(logs);
            })
            .workers(vec![worker("w-dead", 1700, 30.0, "OFFLINE")])
            .build();
        let z = findings(&ev, "slots.zombie-holder");
        assert_eq!(z[0].title, "50 runs hold concurrency slots but look dead");
        assert!(z[0].evidence.iter().any(|e| e == "… and 40 more"), "{:?}", z[0].evidence);
        assert!(
            z[0].evidence.iter().any(|e| e.starts_with("10 more Running holders could not be judged")),
            "{:?}",
            z[0].evidence
        );
    }

    /// A batched read that found no line since the quiet cut-off (`silent_since`): a holder Running
    /// longer than the threshold is a zombie "not logged for more than …"; one Running for less is not.
    #[test]
    fn silent_since_judges_running_holders() {
        let holders = vec![
            holder("old", StateType::Running, "Running", 3600, Some("w-dead")),
            holder("new", StateType::Running, "Running", 60, Some("w-dead")),
        ];
        let silent = ago(900);
        let logs: Vec<RunLogs> = holders
            .iter()
            .map(|r| RunLogs { run_id: r.id.clone(), lines: vec![], silent_since: Some(silent) })
            .collect();
        let ev = Scenario::late(900)
            .evidence(move |ev| {
                if let Source::Collected { value } = &mut ev.work_pool {
                    value.concurrency_limit = Some(2);
                    value.active_slots = Some(2);
                }
                ev.concurrency.pool_holders = Source::ok(holders);
                ev.concurrency.holder_logs = Source::ok(logs);
            })
            .workers(vec![worker("w-dead", 1700, 30.0, "OFFLINE")])
            .build();
        let z = findings(&ev, "slots.zombie-holder");
        assert_eq!(z[0].title, "Run 'old' holds a concurrency slot but looks dead", "{z:?}");
        let text = z[0].evidence.join("\n");
        assert!(text.contains("has not logged for more than 15m"), "{text}");
        assert!(!text.contains("run 'new'"), "{text}");
    }

    /// A server from before deployment leases: two live holders without lease ids own both slots;
    /// nothing leaked, and no advice to reset the counter.
    #[test]
    fn holders_without_leases_own_their_slots() {
        let mut st = state(StateType::Scheduled, "AwaitingConcurrencySlot", 120);
        st.state_details.scheduled_time = Some(ago(-30));
        let holders = vec![
            holder("a", StateType::Running, "Running", 60, Some("w1")),
            holder("bb", StateType::Pending, "Pending", 30, Some("w1")),
        ];
        let ev = Scenario::late(900)
            .run(|r| {
                r.state = Some(st.clone());
                r.state_name = Some("AwaitingConcurrencySlot".into());
            })
            .deployment(|d| {
                d.global_concurrency_limit = Some(GlobalConcurrencyLimit {
                    id: None,
                    name: Some("deployment:d".into()),
                    active: true,
                    limit: Some(2),
                    active_slots: Some(2),
                })
            })
            .evidence(|ev| ev.concurrency.deployment_holders = Source::ok(holders))
            .build();
        let f = findings(&ev, "slots.deployment-full");
        assert!(!f[0].detail.contains("leaked"), "{}", f[0].detail);
        assert!(!f[0].remediation.iter().any(|r| r.contains("--active-slots")), "{:?}", f[0].remediation);
    }

    /// A pool under its limit: nothing; a zombie elsewhere is only a risk.
    #[test]
    fn zombie_in_a_free_pool_is_a_risk() {
        let ev = Scenario::late(900)
            .evidence(|ev| {
                if let Source::Collected { value } = &mut ev.work_pool {
                    value.concurrency_limit = Some(5);
                    value.active_slots = Some(1);
                }
                ev.concurrency.pool_holders =
                    Source::ok(vec![holder("stuck", StateType::Cancelling, "Cancelling", 3600, None)]);
            })
            .build();
        assert!(findings(&ev, "slots.pool-full").is_empty());
        let z = findings(&ev, "slots.zombie-holder");
        assert_eq!(z[0].kind, Kind::Risk);
        assert!(z[0].remediation[0].contains("\"CANCELLED\""));
    }

    /// Two Pending runs carry leases, the limit counts one active slot: the older run's lease expired.
    #[test]
    fn lease_expired_oldest_pending_holder() {
        let leased = |name: &str, secs: i64| {
            let mut r = holder(name, StateType::Pending, "Pending", secs, Some("w1"));
            r.expected_start_time = Some(ago(secs));
            if let Some(s) = r.state.as_mut() {
                s.state_details.deployment_concurrency_lease_id = Some(format!("lease-{name}"));
            }
            r
        };
        let old = leased("old", 900);
        let young = leased("young", 60);
        let limit = GlobalConcurrencyLimit {
            id: None,
            name: Some("deployment:d".into()),
            active: true,
            limit: Some(2),
            active_slots: Some(1),
        };
        let for_run = |r: &FlowRun| {
            let r = r.clone();
            let limit = limit.clone();
            let holders = vec![old.clone(), young.clone()];
            Scenario::pending(10)
                .run(move |run| *run = r)
                .deployment(move |d| d.global_concurrency_limit = Some(limit))
                .evidence(move |ev| ev.concurrency.deployment_holders = Source::ok(holders))
                .build()
        };
        let f = findings(&for_run(&old), "lease.expired");
        assert_eq!(f.len(), 1);
        assert!(
            f[0].evidence[1].contains("2 runs of the deployment carry a lease: 1 lease expired"),
            "{:?}",
            f[0].evidence
        );
        assert!(findings(&for_run(&young), "lease.expired").is_empty(), "the younger lease is still held");
    }

    /// AwaitingConcurrencySlot with a full deployment limit whose slot leaked.
    #[test]
    fn deployment_full_with_a_leaked_slot() {
        let mut st = state(StateType::Scheduled, "AwaitingConcurrencySlot", 120);
        st.state_details.scheduled_time = Some(ago(-30));
        let ev = Scenario::late(900)
            .run(|r| {
                r.state = Some(st.clone());
                r.state_name = Some("AwaitingConcurrencySlot".into());
            })
            .deployment(|d| {
                d.global_concurrency_limit = Some(GlobalConcurrencyLimit {
                    id: None,
                    name: Some("deployment:d".into()),
                    active: true,
                    limit: Some(1),
                    active_slots: Some(1),
                })
            })
            .evidence(|ev| ev.concurrency.deployment_holders = Source::ok(vec![]))
            .build();
        let ranked = crate::report::rank(all_findings(&ev));
        assert_eq!(ranked[0].finding.id, "slots.deployment-full");
        assert!(ranked[0].finding.detail.contains("leaked"), "{}", ranked[0].finding.detail);
        assert!(
            ranked[0]
                .finding
                .remediation
                .iter()
                .any(|r| r.contains("prefect gcl update deployment:d --active-slots 0"))
        );
        assert_eq!(ranked[1].finding.id, "run.awaiting-slot");
    }

    /// Regression (issue 9): an empty zombie list gives no finding instead of a panic on `zombies[0]`.
    #[test]
    fn no_zombies_no_finding() {
        assert!(super::zombie_finding(super::Severity::Critical, "x", &[], 3).is_none());
    }
}
