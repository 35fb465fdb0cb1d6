//! Reads ECS's free-text failure reasons into classes. The wording comes from the ECS/Fargate agents
//! (stopped-task error codes), the RunTask/RegisterTaskDefinition API errors the worker logs, and
//! Docker/containerd registry errors (fixtures/ecs/SOURCES.md says where each example is from).
//!
//! A reason names its error type first ("CannotStartContainerError: ResourceInitializationError: …" is a
//! start failure whose cause mentions init), so the family is the earliest marker in the text.

use std::sync::LazyLock;

use regex::Regex;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("ecs pattern {pattern:?}: {e}"))
}

macro_rules! pattern {
    ($name:ident, $re:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| re($re));
    };
}

/// Which error family a reason belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Pull,
    Init,
    Start,
    Oom,
}

pattern!(
    FAMILY,
    r"CannotPull(?:ECR)?ContainerError|ResourceInitializationError|CannotStartContainerError|CannotCreateVolumeError|ContainerRuntimeTimeoutError|DockerTimeoutError|CannotInspectContainerError|OutOfMemoryError"
);

/// The error family a reason leads with, if any.
pub(crate) fn family(text: &str) -> Option<Family> {
    let m = FAMILY.find(text)?;
    Some(match m.as_str() {
        "ResourceInitializationError" => Family::Init,
        "OutOfMemoryError" => Family::Oom,
        s if s.starts_with("CannotPull") => Family::Pull,
        _ => Family::Start,
    })
}

// ---------------------------------------------------------------------------------------------------
// Image pulls

/// Why an image pull failed (`ecs.image-pull` detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Pull {
    RateLimited,
    Unauthorized,
    NotFound,
    Network,
    Other,
}

impl Pull {
    pub fn token(self) -> &'static str {
        match self {
            Pull::RateLimited => "rate-limited",
            Pull::Unauthorized => "unauthorized",
            Pull::NotFound => "not-found",
            Pull::Network => "network",
            Pull::Other => "other",
        }
    }
}

pattern!(PULL_RATE, r"(?i)toomanyrequests|too many requests|pull rate limit|\b429\b");
pattern!(
    PULL_AUTH,
    r"(?i)pull access denied|AccessDenied|not authorized to perform|\b403 Forbidden|\b401 Unauthorized|\bunauthorized\b|no basic auth credentials|denied: requested access"
);
pattern!(
    PULL_NOT_FOUND,
    r"(?i):\s*not found\b|manifest unknown|manifest for \S+ not found|name unknown|\bnot found: manifest"
);
pattern!(
    NETWORKISH,
    r"(?i)i/o timeout|dial tcp|context deadline exceeded|connection refused|connection reset|no such host|TLS handshake timeout|RequestCanceled|request canceled|send request failed|RequestError|timed out|Client\.Timeout"
);

/// The pull sub-class of a CannotPullContainerError reason (`None` for other families).
pub(crate) fn pull(text: &str) -> Option<Pull> {
    if family(text) != Some(Family::Pull) {
        return None;
    }
    Some(if PULL_RATE.is_match(text) {
        Pull::RateLimited
    } else if PULL_AUTH.is_match(text) {
        Pull::Unauthorized
    } else if PULL_NOT_FOUND.is_match(text) {
        Pull::NotFound
    } else if NETWORKISH.is_match(text) {
        Pull::Network
    } else {
        Pull::Other
    })
}

pattern!(ECR_HOST, r"\b\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?\b");

/// Whether an image (or a reason quoting it) lives in a private ECR registry.
pub(crate) fn is_ecr(text: &str) -> bool {
    ECR_HOST.is_match(text)
}

// ---------------------------------------------------------------------------------------------------
// ResourceInitializationError (Fargate ≥ 1.4)

/// What the agent could not set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum InitWhat {
    /// Secrets Manager secrets (`valueFrom` arn:aws:secretsmanager…).
    SecretsManager,
    /// SSM parameters.
    Ssm,
    /// ECR credentials, or a private registry's `repositoryCredentials` secret.
    RegistryAuth,
    /// The awslogs driver (log group, log stream).
    Logging,
    /// The task's network interface itself.
    Eni,
    Unknown,
}

/// Why it could not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum InitCause {
    AccessDenied,
    Missing,
    Unreachable,
    Other,
}

impl InitWhat {
    pub fn token(self) -> &'static str {
        match self {
            InitWhat::SecretsManager | InitWhat::Ssm => "secrets",
            InitWhat::RegistryAuth => "registry-auth",
            InitWhat::Logging => "logging",
            InitWhat::Eni => "network",
            InitWhat::Unknown => "other",
        }
    }

    pub fn service(self) -> &'static str {
        match self {
            InitWhat::SecretsManager => "AWS Secrets Manager",
            InitWhat::Ssm => "SSM Parameter Store",
            InitWhat::RegistryAuth => "the registry credentials (ECR or repositoryCredentials)",
            InitWhat::Logging => "CloudWatch Logs",
            InitWhat::Eni => "the task's network interface",
            InitWhat::Unknown => "a resource the task needs",
        }
    }
}

impl InitCause {
    pub fn token(self) -> &'static str {
        match self {
            InitCause::AccessDenied => "access-denied",
            InitCause::Missing => "missing",
            InitCause::Unreachable => "unreachable",
            InitCause::Other => "failed",
        }
    }
}

pattern!(INIT_ASM, r"(?i)retrieve secrets? from asm|fetch secret \S*secretsmanager|secretsmanager:GetSecretValue");
pattern!(INIT_SSM, r"(?i)retrieve secrets? from ssm|ssm:GetParameters|\bParameterNotFound\b|parameter store");
pattern!(INIT_REGISTRY, r"(?i)ecr registry auth|registry auth from asm|ecr:GetAuthorizationToken");
pattern!(INIT_LOGGING, r"(?i)logger args|logging driver|log group|log stream|CreateLogStream|awslogs");
pattern!(INIT_ENI, r"(?i)failed to configure ENI|netplugin|network interface|\bENI\b|DNS resolution");
pattern!(
    INIT_DENIED,
    r"(?i)AccessDenied|not authorized to perform|Access to KMS is not allowed|KMSAccessDenied|\bforbidden\b"
);
pattern!(
    INIT_MISSING,
    r"(?i)ResourceNotFoundException|does not exist|ParameterNotFound|InvalidParameters|can't find the specified secret"
);

/// The sub-class of a ResourceInitializationError reason (`None` for other families).
pub(crate) fn init(text: &str) -> Option<(InitWhat, InitCause)> {
    if family(text) != Some(Family::Init) {
        return None;
    }
    // Registry credentials first: a repositoryCredentials failure names Secrets Manager too.
    let what = if INIT_REGISTRY.is_match(text) {
        InitWhat::RegistryAuth
    } else if INIT_ASM.is_match(text) {
        InitWhat::SecretsManager
    } else if INIT_SSM.is_match(text) {
        InitWhat::Ssm
    } else if INIT_LOGGING.is_match(text) {
        InitWhat::Logging
    } else if INIT_ENI.is_match(text) {
        InitWhat::Eni
    } else {
        InitWhat::Unknown
    };
    let cause = if INIT_DENIED.is_match(text) {
        InitCause::AccessDenied
    } else if INIT_MISSING.is_match(text) {
        InitCause::Missing
    } else if NETWORKISH.is_match(text) || text.contains("check your task network configuration") {
        InitCause::Unreachable
    } else {
        InitCause::Other
    };
    Some((what, cause))
}

// ---------------------------------------------------------------------------------------------------
// Container start / runtime errors

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Start {
    Container,
    CannotCreateVolume,
    RuntimeTimeout,
    CannotInspect,
}

impl Start {
    pub fn token(self) -> &'static str {
        match self {
            Start::Container => "cannot-start",
            Start::CannotCreateVolume => "cannot-create-volume",
            Start::RuntimeTimeout => "runtime-timeout",
            Start::CannotInspect => "cannot-inspect",
        }
    }
}

pub(crate) fn start(text: &str) -> Option<Start> {
    if family(text) != Some(Family::Start) {
        return None;
    }
    let m = FAMILY.find(text)?.as_str();
    Some(match m {
        "CannotCreateVolumeError" => Start::CannotCreateVolume,
        "ContainerRuntimeTimeoutError" | "DockerTimeoutError" => Start::RuntimeTimeout,
        "CannotInspectContainerError" => Start::CannotInspect,
        _ => Start::Container,
    })
}

pattern!(
    EXEC_NOT_FOUND,
    r#"(?i)exec: "?([^":]+)"?: executable file not found|executable file not found|no such file or directory"#
);
pattern!(EXEC_FORMAT, r"(?i)exec format error");

/// A hint at what a start failure means, from its wording.
pub(crate) fn start_hint(text: &str) -> Option<&'static str> {
    if EXEC_FORMAT.is_match(text) {
        Some(
            "the image was built for another CPU architecture (exec format error): build it for the task's platform (linux/amd64 or linux/arm64 as runtimePlatform says)",
        )
    } else if EXEC_NOT_FOUND.is_match(text) {
        Some(
            "the container's command is not in the image (executable file not found): check the command job variable and that the image has prefect installed",
        )
    } else if INIT_LOGGING.is_match(text) {
        Some(
            "the awslogs logging driver failed: the log group must exist and the execution role needs logs:CreateLogStream and logs:PutLogEvents",
        )
    } else if text.contains("efs") || text.contains("EFS") || text.contains("mount") {
        Some(
            "a volume mount failed: check the EFS file system's mount targets and security groups for the task's subnets",
        )
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------------
// Networking (ENI, subnets, security groups, the service-linked role)

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Net {
    ServiceLinkedRole,
    Subnet,
    SecurityGroup,
    EniTimeout,
}

impl Net {
    pub fn token(self) -> &'static str {
        match self {
            Net::ServiceLinkedRole => "service-linked-role",
            Net::Subnet => "subnet",
            Net::SecurityGroup => "security-group",
            Net::EniTimeout => "eni-timeout",
        }
    }
}

pattern!(NET_SLR, r"(?i)Unable to assume the service linked role");
pattern!(
    NET_SUBNET,
    r"(?i)subnet ID '[^']*' does not exist|InvalidSubnetID|Error retrieving subnet information|InsufficientFreeAddressesInSubnet"
);
pattern!(
    NET_SG,
    r"(?i)security group '[^']*' does not exist|InvalidGroup\.NotFound|Error retrieving security group information"
);
pattern!(NET_ENI, r"(?i)Timeout waiting for network interface provisioning");

pub(crate) fn network(text: &str) -> Option<Net> {
    if NET_SLR.is_match(text) {
        Some(Net::ServiceLinkedRole)
    } else if NET_SUBNET.is_match(text) {
        Some(Net::Subnet)
    } else if NET_SG.is_match(text) {
        Some(Net::SecurityGroup)
    } else if NET_ENI.is_match(text) {
        Some(Net::EniTimeout)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------------
// Placement / capacity

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cap {
    /// RESOURCE:MEMORY, RESOURCE:CPU, RESOURCE:PORTS, RESOURCE:ENI, RESOURCE:GPU.
    Resource(String),
    Unavailable,
    EmptyProvider,
    NoInstances,
}

impl Cap {
    pub fn token(&self) -> String {
        match self {
            Cap::Resource(r) => format!("resource-{}", r.to_ascii_lowercase()),
            Cap::Unavailable => "unavailable".into(),
            Cap::EmptyProvider => "empty-capacity-provider".into(),
            Cap::NoInstances => "no-container-instances".into(),
        }
    }
}

pattern!(CAP_RESOURCE, r"\bRESOURCE:([A-Z]+)\b");
pattern!(CAP_UNAVAILABLE, r"(?i)Capacity is unavailable at this time");
pattern!(CAP_EMPTY, r"(?i)EMPTY CAPACITY PROVIDER");
pattern!(CAP_NO_INSTANCES, r"(?i)No Container Instances were found in your (?:cluster|capacity provider)");

pub(crate) fn capacity(text: &str) -> Option<Cap> {
    if let Some(c) = CAP_RESOURCE.captures(text).and_then(|c| c.get(1)) {
        Some(Cap::Resource(c.as_str().to_string()))
    } else if CAP_UNAVAILABLE.is_match(text) {
        Some(Cap::Unavailable)
    } else if CAP_EMPTY.is_match(text) {
        Some(Cap::EmptyProvider)
    } else if CAP_NO_INSTANCES.is_match(text) {
        Some(Cap::NoInstances)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------------
// Worker-side API errors

pattern!(
    REGISTER,
    r"(?i)Too many concurrent attempts to create a new revision|when calling the RegisterTaskDefinition operation"
);
pattern!(CLUSTER_NOT_FOUND, r"ClusterNotFoundException");

pub(crate) fn register_failed(text: &str) -> bool {
    REGISTER.is_match(text)
}

pub(crate) fn cluster_not_found(text: &str) -> bool {
    CLUSTER_NOT_FOUND.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The family is the reason's leading error type, even when a nested type follows it.
    #[test]
    fn family_is_the_leading_error() {
        assert_eq!(
            family(
                "CannotStartContainerError: ResourceInitializationError: failed to create new container runtime task"
            ),
            Some(Family::Start)
        );
        assert_eq!(family("ResourceInitializationError: unable to pull secrets or registry auth"), Some(Family::Init));
        assert_eq!(family("TaskFailedToStart: CannotPullContainerError: pull access denied"), Some(Family::Pull));
        assert_eq!(family("OutOfMemoryError: Container killed due to memory usage"), Some(Family::Oom));
        assert_eq!(family("Essential container in task exited"), None);
        assert_eq!(family(""), None);
    }

    /// Each pull sub-class from its characteristic wording; a cut-off reason is `Other`, not a guess.
    #[test]
    fn pull_subclasses() {
        let cases = [
            (
                "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref ghcr.io/o/i:t: ghcr.io/o/i:t: not found",
                Pull::NotFound,
            ),
            (
                "CannotPullContainerError: Error response from daemon: pull access denied for x, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
                Pull::Unauthorized,
            ),
            (
                "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref 1.dkr: pulling from host failed with status code [manifests latest]: 403 Forbidden",
                Pull::Unauthorized,
            ),
            ("CannotPullContainerError: toomanyrequests: You have reached your pull rate limit.", Pull::RateLimited),
            (
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/a/b:1: failed to do request: Head \"https://x\": dial tcp 1.2.3.4:443: i/o timeout",
                Pull::Network,
            ),
            (
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/a/b:1: failed to do req",
                Pull::Other,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(pull(text), Some(want), "{text}");
        }
        assert_eq!(pull("ResourceInitializationError: x"), None);
    }

    /// Init reasons say what failed and why; network trouble is `Unreachable` wherever it happened.
    #[test]
    fn init_subclasses() {
        let asm_kms = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:eu-central-1:1:secret:x from secrets manager: AccessDeniedException: Access to KMS is not allowed";
        assert_eq!(init(asm_kms), Some((InitWhat::SecretsManager, InitCause::AccessDenied)));
        let ssm = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: User: ....";
        assert_eq!(init(ssm), Some((InitWhat::Ssm, InitCause::AccessDenied)));
        let ecr = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve ecr registry auth: service call has been retried 5 time(s): RequestError: send request failed caused by: Post https://api.ecr....";
        assert_eq!(init(ecr), Some((InitWhat::RegistryAuth, InitCause::Unreachable)));
        let logs = "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1";
        assert_eq!(init(logs), Some((InitWhat::Logging, InitCause::Missing)));
    }

    /// Network, capacity and worker-side errors from the API's own wording.
    #[test]
    fn network_capacity_and_worker_errors() {
        assert_eq!(network("Timeout waiting for network interface provisioning to complete."), Some(Net::EniTimeout));
        assert_eq!(
            network("The subnet ID 'subnet-0a1b' does not exist (ErrorCode: InvalidSubnetID.NotFound)"),
            Some(Net::Subnet)
        );
        assert_eq!(
            network("Unable to assume the service linked role. Please verify that the ECS service linked role exists."),
            Some(Net::ServiceLinkedRole)
        );
        assert_eq!(
            capacity("RuntimeError: Failed to run ECS task: RESOURCE:MEMORY"),
            Some(Cap::Resource("MEMORY".into()))
        );
        assert_eq!(
            capacity(
                "Failed to run ECS task: Capacity is unavailable at this time. Please try again later or in a different availability zone"
            ),
            Some(Cap::Unavailable)
        );
        assert_eq!(capacity("Essential container in task exited"), None);
        assert!(register_failed(
            "An error occurred (ClientException) when calling the RegisterTaskDefinition operation: Too many concurrent attempts to create a new revision of the specified family."
        ));
        assert!(cluster_not_found(
            "An error occurred (ClusterNotFoundException) when calling the RunTask operation: Cluster not found."
        ));
    }
}

/// Every pattern of this file is a literal compiled on first use: compiling them all here makes an
/// invalid one fail the tests instead of a diagnosis.
#[cfg(test)]
mod pattern_tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        for p in [
            &*FAMILY,
            &*PULL_RATE,
            &*PULL_AUTH,
            &*PULL_NOT_FOUND,
            &*NETWORKISH,
            &*ECR_HOST,
            &*INIT_ASM,
            &*INIT_SSM,
            &*INIT_REGISTRY,
            &*INIT_LOGGING,
            &*INIT_ENI,
            &*INIT_DENIED,
            &*INIT_MISSING,
            &*EXEC_NOT_FOUND,
            &*EXEC_FORMAT,
            &*NET_SLR,
            &*NET_SUBNET,
            &*NET_SG,
            &*NET_ENI,
            &*CAP_RESOURCE,
            &*CAP_UNAVAILABLE,
            &*CAP_EMPTY,
            &*CAP_NO_INSTANCES,
            &*REGISTER,
            &*CLUSTER_NOT_FOUND,
        ] {
            assert!(!p.as_str().is_empty());
        }
    }
}
