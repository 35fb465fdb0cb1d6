//! The task cannot pull its image. (`ecs.image-pull`)

use super::classify::{self, Pull};
use super::{View, quote};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity};
use crate::shell::sh;

pub const IMAGE_PULL: CheckInfo = CheckInfo {
    id: "ecs.image-pull",
    title: "the ECS task cannot pull its image (CannotPullContainerError)",
    kind: Kind::Cause,
    item: Item::ImagePull,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reads the run's ECS task (stoppedReason, each container's reason, and the worker's log
lines) for CannotPullContainerError and says which kind it is:
  not-found     the repository or tag does not exist (\"failed to resolve ref …: not found\",
                \"manifest unknown\")
  unauthorized  the registry refused the pull (\"pull access denied\", \"403 Forbidden\",
                AccessDeniedException on ecr:GetAuthorizationToken): the task execution role lacks the
                ECR actions, a repository policy denies it, or a private registry needs
                repositoryCredentials
  rate-limited  Docker Hub's pull rate limit (\"toomanyrequests\", 429)
  network       the task's subnets cannot reach the registry (\"dial tcp … i/o timeout\"): no NAT
                gateway or public IP, no ECR/S3 VPC endpoints, or a security group without egress 443
A container's reason is cut at 255 characters, so the task's stoppedReason is read first.

Why it matters: the task stops with TaskFailedToStart before any container runs, so there are no
container logs, and (without the ECS observer) the run stays Pending forever.",
    remediation: &[
        "Read the full reason: aws ecs describe-tasks --cluster <CLUSTER> --tasks <TASK_ARN>",
        "Fix the image job variable (deployment job_variables or the work pool's base job template)",
        "For unauthorized: give the execution role ecr:GetAuthorizationToken, ecr:BatchCheckLayerAvailability, ecr:GetDownloadUrlForLayer and ecr:BatchGetImage (execution_role_arn job variable)",
        "For network: route the task's subnets to the registry (NAT gateway, assignPublicIp, or VPC endpoints) via the network_configuration job variable",
    ],
};

pub(super) fn image_pull(v: &View<'_>) -> Vec<Finding> {
    let hits: Vec<(String, &str, Pull)> = v
        .reasons_and_logs()
        .into_iter()
        .filter_map(|(label, text)| classify::pull(text).map(|k| (label, text, k)))
        .collect();
    // The most complete source that says what went wrong; a cut-off reason only when nothing else does.
    let Some((label, text, kind)) = hits.iter().find(|h| h.2 != Pull::Other).or(hits.first()).cloned() else {
        return vec![];
    };
    let container = v.flow_container_name();
    let image = v
        .task
        .and_then(|t| t.container(&container).and_then(|c| c.image.clone()))
        .or_else(|| v.td.and_then(|td| td.container(&container)).and_then(|c| c.image.clone()))
        .unwrap_or_else(|| "the image".to_string());
    let ecr = classify::is_ecr(&image) || classify::is_ecr(text);
    let role = v.td.and_then(|td| td.execution_role_arn.as_deref());

    let (why, title) = match kind {
        Pull::NotFound => {
            ("the repository or tag does not exist in the registry", format!("The image {image} does not exist"))
        }
        Pull::Unauthorized if ecr => (
            "ECR refused the pull: the task execution role may not pull from this repository",
            format!("The task may not pull {image} from ECR"),
        ),
        Pull::Unauthorized => (
            "the registry refused the pull: it is private (or the name is wrong) and the task has no working credentials",
            format!("The registry refused to let the task pull {image}"),
        ),
        Pull::RateLimited => (
            "Docker Hub's anonymous pull rate limit was reached (all tasks behind one NAT address share it)",
            format!("Pulling {image} hit the registry's rate limit"),
        ),
        Pull::Network => (
            "the task's network cannot reach the registry (no route to the internet or to ECR's VPC endpoints)",
            format!("The task cannot reach the registry to pull {image}"),
        ),
        Pull::Other => {
            ("the image pull failed; the reason was cut off before saying why", format!("The task cannot pull {image}"))
        }
    };
    let mut f = Finding::new(&IMAGE_PULL, Severity::Critical, title)
        .detail(format!("{}: {why}. The task stopped before any container ran.", kind.token()))
        .evidence(format!("{label}: {}", quote(text)));
    if let Some(code) = v.stop_code_evidence() {
        f = f.evidence(code);
    }
    if kind == Pull::Unauthorized && ecr {
        f = f.evidence(match role {
            Some(r) => format!("execution role: {r}"),
            None => "the task definition has no executionRoleArn: Fargate needs one to pull from ECR".to_string(),
        });
    }

    f = match kind {
        Pull::NotFound => {
            let f = match ecr_repo_tag(&image) {
                Some((repo, tag)) => f.fix(format!(
                    "Check the tag exists: aws ecr describe-images --repository-name {} --image-ids imageTag={}{}",
                    sh(repo),
                    sh(tag),
                    region_of(&image).map(|r| format!(" --region {}", sh(r))).unwrap_or_default()
                )),
                None => f.fix(format!("Check the image exists: docker manifest inspect {}", sh(&image))),
            };
            f.fix("Push the image, or fix the image job variable of the deployment / work pool")
        }
        Pull::Unauthorized if ecr => f
            .fix(format!(
                "Give the task execution role{} ecr:GetAuthorizationToken (on *), ecr:BatchCheckLayerAvailability, \
                 ecr:GetDownloadUrlForLayer and ecr:BatchGetImage (the managed AmazonECSTaskExecutionRolePolicy has them), \
                 or point the execution_role_arn job variable at a role that has them",
                role.map(|r| format!(" ({r})")).unwrap_or_default()
            ))
            .fix(match ecr_repo_tag(&image) {
                Some((repo, _)) => format!("Check the repository policy does not deny the role: aws ecr get-repository-policy --repository-name {}", sh(repo)),
                None => "Check the repository policy does not deny the role".to_string(),
            }),
        Pull::Unauthorized => f
            .fix("For a private registry: add repositoryCredentials (credentialsParameter = a Secrets Manager secret) to the container definition and give the execution role secretsmanager:GetSecretValue on that secret")
            .fix("Check the image name: Docker says \"pull access denied\" for a repository that does not exist too"),
        Pull::RateLimited => f
            .fix("Copy the image to ECR (or an ECR pull-through cache rule for Docker Hub) and point the image job variable at it")
            .fix("Or pull as an authenticated Docker Hub user: repositoryCredentials with a Secrets Manager secret, plus secretsmanager:GetSecretValue for the execution role"),
        Pull::Network => f
            .fix(
                "Give the task's subnets a route to the registry: a NAT gateway, or assignPublicIp ENABLED in a public subnet \
                 (network_configuration job variable); for ECR without internet, VPC endpoints com.amazonaws.<region>.ecr.api, \
                 ecr.dkr and the S3 gateway endpoint",
            )
            .fix("Check the security groups allow outbound HTTPS (443) and the VPC has DNS resolution enabled"),
        Pull::Other => f.fix("Read the full stoppedReason (the command below) to see why the pull failed"),
    };
    if let Some(cmd) = v.describe_tasks() {
        f = f.fix(format!("Read the task's reasons: {cmd}"));
    }
    if let Some(cmd) = v.describe_task_definition() {
        f = f.fix(format!("Check the image and execution role the task used: {cmd}"));
    }
    vec![f.subject(v.subject())]
}

/// `123456789012.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>` → (repo, tag); digests and other
/// registries give `None`.
fn ecr_repo_tag(image: &str) -> Option<(&str, &str)> {
    if !classify::is_ecr(image) {
        return None;
    }
    let (_, path) = image.split_once('/')?;
    match path.rsplit_once(':') {
        Some((repo, tag)) if !repo.is_empty() && !tag.is_empty() && !repo.contains('@') => Some((repo, tag)),
        _ if !path.contains('@') && !path.is_empty() => Some((path, "latest")),
        _ => None,
    }
}

fn region_of(image: &str) -> Option<&str> {
    let host = image.split('/').next()?;
    if !classify::is_ecr(host) {
        return None;
    }
    host.split('.').nth(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ECR image names split into repository and tag; other registries and digests do not.
    #[test]
    fn ecr_images() {
        let img = "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows/etl:2024-11-21";
        assert_eq!(ecr_repo_tag(img), Some(("flows/etl", "2024-11-21")));
        assert_eq!(region_of(img), Some("us-east-1"));
        assert_eq!(ecr_repo_tag("123456789012.dkr.ecr.us-east-1.amazonaws.com/flows"), Some(("flows", "latest")));
        assert_eq!(ecr_repo_tag("prefecthq/prefect:3-latest"), None);
        assert_eq!(ecr_repo_tag("123456789012.dkr.ecr.us-east-1.amazonaws.com/flows@sha256:abc"), None);
        assert_eq!(region_of("x"), None);
    }
}
