//! The task fails while ECS sets it up or starts its containers. (`ecs.resource-init`,
//! `ecs.container-start`, `ecs.failed-to-start`)

use super::classify::{self, InitCause, InitWhat, Start};
use super::{View, quote};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity};
use crate::evidence::ecs::StopCode;
use crate::shell::sh;

pub const RESOURCE_INIT: CheckInfo = CheckInfo {
    id: "ecs.resource-init",
    title: "ECS could not set up the task's resources (ResourceInitializationError)",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reads the task's stoppedReason and container reasons (and the run's log lines) for
ResourceInitializationError, which Fargate (platform 1.4+) reports when it cannot prepare what the
containers need before starting them, and says which:
  secrets        the Secrets Manager secrets or SSM parameters in the container definition's `secrets`
                 (\"unable to retrieve secret from asm\", \"unable to retrieve secrets from ssm\")
  registry-auth  the registry credentials (\"unable to retrieve ecr registry auth\", repositoryCredentials)
  logging        the awslogs driver (\"failed to validate logger args\", \"The specified log group does
                 not exist\")
  network        the service was unreachable from the task's subnets (\"context deadline exceeded\",
                 \"send request failed\", \"i/o timeout\"), or the network interface itself
and why: access-denied (the task execution role lacks secretsmanager:GetSecretValue, ssm:GetParameters,
kms:Decrypt, ecr:GetAuthorizationToken, logs:CreateLogStream …), missing (the secret, parameter or log
group does not exist), unreachable (no NAT gateway / public IP / VPC endpoint, security group egress,
VPC DNS resolution off).

Why it matters: the task stops with TaskFailedToStart before any container runs, so there are no
container logs. AWS's AWSSupport-TroubleshootECSTaskFailedToStart runbook walks the same network and
permission paths for one failed task.",
    remediation: &[
        "Read the full reason: aws ecs describe-tasks --cluster <CLUSTER> --tasks <TASK_ARN>",
        "Access denied: give the task execution role the action the reason names (execution_role_arn job variable)",
        "Unreachable: route the task's subnets to the service (NAT gateway, assignPublicIp, or VPC endpoints) via the network_configuration job variable",
        "Missing: create the secret / parameter / log group, or fix its name in the task definition",
    ],
};

pub(super) fn resource_init(v: &View<'_>) -> Vec<Finding> {
    let Some((label, text, (what, cause))) =
        v.reasons_and_logs().into_iter().find_map(|(label, text)| classify::init(text).map(|c| (label, text, c)))
    else {
        return vec![];
    };
    let sub = if cause == InitCause::Unreachable || what == InitWhat::Eni { "network" } else { what.token() };
    let paren =
        if sub == what.token() { cause.token().to_string() } else { format!("{} {}", what.token(), cause.token()) };
    let service = what.service();
    let sentence = match cause {
        InitCause::AccessDenied => format!("the task execution role may not read {service}"),
        InitCause::Missing => {
            format!("{service}: what the task definition refers to does not exist")
        }
        InitCause::Unreachable => format!("the task's subnets cannot reach {service}"),
        InitCause::Other => format!("Fargate could not set up {service}"),
    };
    let title = match (what, cause) {
        (InitWhat::Logging, InitCause::Missing) => "The task's CloudWatch log group does not exist".to_string(),
        (_, InitCause::AccessDenied) => format!("The task execution role may not read {service}"),
        (_, InitCause::Unreachable) => format!("The task cannot reach {service} from its subnets"),
        _ => format!("ECS could not set up {service} for the task"),
    };
    let role = v.td.and_then(|td| td.execution_role_arn.as_deref());
    let role_txt = role.map(|r| format!(" ({r})")).unwrap_or_default();

    let mut f = Finding::new(&RESOURCE_INIT, Severity::Critical, title)
        .detail(format!("{sub} ({paren}): {sentence}. The task stopped before any container ran."))
        .evidence(format!("{label}: {}", quote(text)));
    if let Some(code) = v.stop_code_evidence() {
        f = f.evidence(code);
    }
    if cause == InitCause::AccessDenied {
        f = f.evidence(match role {
            Some(r) => format!("execution role: {r}"),
            None => "the task definition has no executionRoleArn".to_string(),
        });
    }
    let secrets: Vec<String> =
        v.td.iter()
            .flat_map(|td| td.container_definitions.iter())
            .flat_map(|c| c.secrets.iter())
            .filter_map(|s| s.value_from.clone())
            .collect();
    if what == InitWhat::SecretsManager || what == InitWhat::Ssm {
        if let Some(first) = secrets.first() {
            let more = secrets.len().saturating_sub(1);
            f = f.evidence(format!(
                "the task definition's secrets read {first}{}",
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ));
        }
    }

    f = match (what, cause) {
        (InitWhat::SecretsManager, InitCause::AccessDenied) => f.fix(format!(
            "Give the task execution role{role_txt} secretsmanager:GetSecretValue on the secrets, and kms:Decrypt on their KMS key when it is a customer-managed key (\"Access to KMS is not allowed\")"
        )),
        (InitWhat::Ssm, InitCause::AccessDenied) => f.fix(format!(
            "Give the task execution role{role_txt} ssm:GetParameters on the parameters, and kms:Decrypt for SecureString parameters under a customer-managed key"
        )),
        (InitWhat::RegistryAuth, InitCause::AccessDenied) => f.fix(format!(
            "Give the task execution role{role_txt} ecr:GetAuthorizationToken (on *), or secretsmanager:GetSecretValue on the repositoryCredentials secret for a private registry"
        )),
        (InitWhat::Logging, InitCause::AccessDenied) => {
            f.fix(format!("Give the task execution role{role_txt} logs:CreateLogStream and logs:PutLogEvents on the log group"))
        }
        (InitWhat::Logging, InitCause::Missing) => {
            let group = v.log_location().map(|(g, _)| g).unwrap_or_else(|| "<awslogs-group>".into());
            f.fix(format!(
                "Create the log group: aws logs create-log-group --log-group-name {}{}",
                sh(&group),
                v.ecs.region.as_deref().map(|r| format!(" --region {}", sh(r))).unwrap_or_default()
            ))
            .fix("Or let the driver create it: awslogs-create-group \"true\" in the log options (cloudwatch_logs_options job variable), with logs:CreateLogGroup for the execution role")
        }
        (InitWhat::SecretsManager | InitWhat::Ssm, InitCause::Missing) => {
            f.fix("Create the secret / parameter or fix its ARN in the container definition's secrets (valueFrom); it must be in the task's region")
        }
        (_, InitCause::Unreachable) | (InitWhat::Eni, _) => f
            .fix(format!(
                "Route the task's subnets to {service}: a NAT gateway, or assignPublicIp ENABLED in a public subnet (network_configuration job variable), or VPC endpoints ({})",
                endpoints(what)
            ))
            .fix("Check the task's security groups allow outbound HTTPS (443) and the VPC has DNS resolution and DNS hostnames enabled (vpc_id job variable names the VPC)"),
        _ => f.fix("Read the full stoppedReason (the command below) to see which resource failed"),
    };
    if let Some(cmd) = v.describe_tasks() {
        f = f.fix(format!("Read the task's reasons: {cmd}"));
    }
    if let Some(cmd) = v.describe_task_definition() {
        f = f.fix(format!("Check the secrets, log configuration and execution role the task used: {cmd}"));
    }
    f = f.fix("Or let AWS walk the network and permission paths: the AWSSupport-TroubleshootECSTaskFailedToStart Systems Manager runbook, with this cluster and task id");
    vec![f.subject(v.subject())]
}

fn endpoints(what: InitWhat) -> &'static str {
    match what {
        InitWhat::SecretsManager => "com.amazonaws.<region>.secretsmanager",
        InitWhat::Ssm => "com.amazonaws.<region>.ssm",
        InitWhat::RegistryAuth => "com.amazonaws.<region>.ecr.api, ecr.dkr and the S3 gateway endpoint",
        InitWhat::Logging => "com.amazonaws.<region>.logs",
        InitWhat::Eni | InitWhat::Unknown => "ecr.api, ecr.dkr, S3, logs, secretsmanager, ssm as the task needs",
    }
}

pub const CONTAINER_START: CheckInfo = CheckInfo {
    id: "ecs.container-start",
    title: "a container of the ECS task could not be started",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reads the task's stoppedReason and container reasons for the container runtime's own
errors:
  cannot-start          CannotStartContainerError: the runtime could not start the container, e.g.
                        \"exec: \\\"prefect\\\": executable file not found in $PATH\" (the command is not in the
                        image), \"exec format error\" (wrong CPU architecture), a failed EFS mount, or the
                        logging driver failing on the EC2 launch type
  cannot-create-volume  CannotCreateVolumeError: a volume in the task definition could not be created
  runtime-timeout       ContainerRuntimeTimeoutError (DockerTimeoutError on platform 1.3): the container
                        did not reach RUNNING within the timeout
  cannot-inspect        CannotInspectContainerError: the agent could not describe the container

Why it matters: the container never ran the flow engine, so the run never leaves Pending, and nothing
was logged from inside the container.",
    remediation: &[
        "Read the full reason: aws ecs describe-tasks --cluster <CLUSTER> --tasks <TASK_ARN>",
        "Check the command job variable and the image's entrypoint (prefect must be installed and on PATH)",
        "Check the image's architecture matches the task's runtimePlatform",
    ],
};

pub(super) fn container_start(v: &View<'_>) -> Vec<Finding> {
    let Some((label, text, kind)) =
        v.reasons().into_iter().find_map(|(label, text)| classify::start(text).map(|k| (label, text, k)))
    else {
        return vec![];
    };
    let hint = classify::start_hint(text);
    let what = match kind {
        Start::Container => "the container runtime could not start the container",
        Start::CannotCreateVolume => "a volume in the task definition could not be created",
        Start::RuntimeTimeout => "the container did not reach RUNNING within the runtime's timeout",
        Start::CannotInspect => "the agent could not inspect the container through the runtime",
    };
    let title = match (kind, hint) {
        (Start::Container, Some(h)) if h.contains("executable file not found") => {
            "The task's container cannot start: its command is not in the image".to_string()
        }
        _ => format!("The task's container could not be started ({})", kind.token()),
    };
    let mut f = Finding::new(&CONTAINER_START, Severity::Critical, title)
        .detail(format!("{}: {what}{}.", kind.token(), hint.map(|h| format!("; {h}")).unwrap_or_default()))
        .evidence(format!("{label}: {}", quote(text)));
    if let Some(code) = v.stop_code_evidence() {
        f = f.evidence(code);
    }
    let container = v.flow_container_name();
    if let Some(cmd) = v.task.and_then(|t| t.override_command(&container)) {
        f = f.evidence(format!("container {container} command (RunTask override): {}", cmd.join(" ")));
    }
    if let Some(h) = hint {
        f = f.fix(format!("{}{}", h[..1].to_uppercase(), &h[1..]));
    }
    f = match kind {
        Start::CannotCreateVolume => f.fix("Check the volumes and mount points of the task definition (EFS file system id, access point, mount targets in the task's subnets)"),
        Start::RuntimeTimeout => f.fix("Retry; if it repeats, check the task's network (ENI, DNS) and the image size, and report the task id to AWS support"),
        _ => f,
    };
    if let Some(cmd) = v.describe_tasks() {
        f = f.fix(format!("Read the task's reasons: {cmd}"));
    }
    if let Some(cmd) = v.describe_task_definition() {
        f = f.fix(format!("Check the image, command and volumes: {cmd}"));
    }
    vec![f.subject(v.subject())]
}

pub const FAILED_TO_START: CheckInfo = CheckInfo {
    id: "ecs.failed-to-start",
    title: "the ECS task failed to start (TaskFailedToStart)",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a task whose stopCode is TaskFailedToStart when no more specific check explains
it (image pull, resource initialization, container start, networking, capacity), and quotes ECS's
stoppedReason as it is.

Why it matters: the task stopped before its containers ran: no flow code ran, there are no container
logs, and (without the ECS observer) the run stays Pending. The stoppedReason is the only account of
why; ECS keeps stopped tasks for about an hour.",
    remediation: &[
        "Read the full reason: aws ecs describe-tasks --cluster <CLUSTER> --tasks <TASK_ARN>",
        "Run the AWSSupport-TroubleshootECSTaskFailedToStart Systems Manager runbook for the task",
    ],
};

pub(super) fn failed_to_start(v: &View<'_>) -> Vec<Finding> {
    let Some(task) = v.task else { return vec![] };
    if task.stop_code() != Some(StopCode::TaskFailedToStart) {
        return vec![];
    }
    let explained = v.reasons_and_logs().into_iter().any(|(_, t)| {
        classify::family(t).is_some() || classify::network(t).is_some() || classify::capacity(t).is_some()
    });
    if explained {
        return vec![];
    }
    let reason = task.stopped_reason.as_deref().filter(|r| !r.trim().is_empty());
    let mut f = Finding::new(
        &FAILED_TO_START,
        Severity::Critical,
        match reason {
            Some(r) => format!("The ECS task failed to start: {}", quote(r)),
            None => "The ECS task failed to start (no stoppedReason)".to_string(),
        },
    )
    .detail("The task stopped with TaskFailedToStart before its containers ran; ECS's reason is quoted as it is.")
    .evidence(format!("stoppedReason: {}", reason.map(quote).unwrap_or_else(|| "(none)".into())));
    if let Some(code) = v.stop_code_evidence() {
        f = f.evidence(code);
    }
    if let Some(cmd) = v.describe_tasks() {
        f = f.fix(format!("Read the task's reasons: {cmd}"));
    }
    f = f.fix("Run the AWSSupport-TroubleshootECSTaskFailedToStart Systems Manager runbook with this cluster and task id: it checks the network paths, the execution role and the log group");
    vec![f.subject(v.subject())]
}
