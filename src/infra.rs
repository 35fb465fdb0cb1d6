//! What a flow run's `infrastructure_pid` names. Workers write it in different shapes:
//!
//! | worker | shape |
//! |---|---|
//! | process (Prefect 3) | `<pid>` |
//! | process (Prefect 2) | `<hostname>:<pid>` |
//! | Kubernetes (prefect-kubernetes 0.8) | `<namespace>:<job>` |
//! | Kubernetes (older, Prefect 2) | `<cluster uid>:<namespace>:<job>` |
//! | ECS | `<cluster>::<task arn>` (`::` because ARNs contain `:`) |
//! | Docker (Prefect 2 block) | `<docker base url>:<container id>` |

use crate::shell::sh;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Infra {
    Process { host: Option<String>, pid: u32 },
    Kubernetes { cluster_uid: Option<String>, namespace: String, job: String },
    Ecs { cluster: String, task_arn: String },
    Docker { base_url: String, container: String },
    Unknown(String),
}

/// Parses `pid`; the pool type breaks ties (`host:123` is a process, `ns:job` a Kubernetes job).
pub fn parse(pid: &str, pool_type: Option<&str>) -> Infra {
    let pid = pid.trim();
    let kube = pool_type.is_some_and(|t| t.starts_with("kubernetes"));
    if let Some((cluster, arn)) = pid.split_once("::") {
        if !cluster.is_empty() && !arn.is_empty() {
            return Infra::Ecs { cluster: cluster.to_string(), task_arn: arn.to_string() };
        }
    }
    if pid.contains("://") {
        if let Some((base, container)) = pid.rsplit_once(':') {
            if !container.contains('/') {
                return Infra::Docker { base_url: base.to_string(), container: container.to_string() };
            }
        }
    }
    if let Ok(n) = pid.parse::<u32>() {
        return Infra::Process { host: None, pid: n };
    }
    let parts: Vec<&str> = pid.split(':').collect();
    match parts.as_slice() {
        [host, n] if !kube && !host.is_empty() && n.parse::<u32>().is_ok() => {
            Infra::Process { host: Some(host.to_string()), pid: n.parse().unwrap_or_default() }
        }
        [ns, job] if !ns.is_empty() && !job.is_empty() => {
            Infra::Kubernetes { cluster_uid: None, namespace: ns.to_string(), job: job.to_string() }
        }
        [uid, ns, job] if !ns.is_empty() && !job.is_empty() => Infra::Kubernetes {
            cluster_uid: Some(uid.to_string()).filter(|u| !u.is_empty()),
            namespace: ns.to_string(),
            job: job.to_string(),
        },
        _ => Infra::Unknown(pid.to_string()),
    }
}

impl Infra {
    /// "process 17343 on host vm", "Kubernetes job prefect-jobs/diag-flow-abc12", ...
    pub fn describe(&self) -> String {
        match self {
            Infra::Process { host: Some(h), pid } => format!("process {pid} on host {h}"),
            Infra::Process { host: None, pid } => format!("process {pid} on the worker's host"),
            Infra::Kubernetes { namespace, job, .. } => format!("Kubernetes job {namespace}/{job}"),
            Infra::Ecs { cluster, task_arn } => format!("ECS task {task_arn} in cluster {cluster}"),
            Infra::Docker { base_url, container } => format!("Docker container {container} on {base_url}"),
            Infra::Unknown(raw) => format!("infrastructure '{raw}'"),
        }
    }

    /// What a finding's `subject` names.
    pub fn subject(&self) -> String {
        match self {
            Infra::Process { host, pid } => format!("process/{}/{pid}", host.as_deref().unwrap_or("worker-host")),
            Infra::Kubernetes { namespace, job, .. } => format!("job/{namespace}/{job}"),
            Infra::Ecs { task_arn, .. } => task_arn.clone(),
            Infra::Docker { container, .. } => format!("container/{container}"),
            Infra::Unknown(raw) => format!("infrastructure/{raw}"),
        }
    }

    /// Copy-pasteable commands to look at it.
    pub fn inspect(&self, run_id: &str) -> Vec<String> {
        match self {
            Infra::Process { host, pid } => {
                let on =
                    host.as_deref().map(|h| format!(" (on {h})")).unwrap_or_else(|| " (on the worker's host)".into());
                vec![format!("See whether the process is alive{on}: ps -o pid,etime,args -p {pid}")]
            }
            Infra::Kubernetes { namespace, job, .. } => vec![
                format!("Look at the job and its events: kubectl describe job {} -n {}", sh(job), sh(namespace)),
                format!(
                    "Look at its pods: kubectl get pods -n {} -l prefect.io/flow-run-id={run_id} -o wide",
                    sh(namespace)
                ),
            ],
            Infra::Ecs { cluster, task_arn } => vec![format!(
                "Look at the task (stopCode, stoppedReason, containers): aws ecs describe-tasks --cluster {} --tasks {}",
                sh(cluster),
                sh(task_arn)
            )],
            Infra::Docker { container, .. } => {
                vec![format!("Look at the container: docker inspect {0} && docker logs {0}", sh(container))]
            }
            Infra::Unknown(_) => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape Prefect workers write parses into what it names.
    #[test]
    fn parses_every_known_shape() {
        assert_eq!(parse("17343", Some("process")), Infra::Process { host: None, pid: 17343 });
        assert_eq!(parse("vm:15444", Some("process")), Infra::Process { host: Some("vm".into()), pid: 15444 });
        assert_eq!(
            parse("prefect-jobs:diag-flow-abc12", Some("kubernetes")),
            Infra::Kubernetes { cluster_uid: None, namespace: "prefect-jobs".into(), job: "diag-flow-abc12".into() }
        );
        assert_eq!(
            parse("3b1a1c2e-5f2b-4f55-9a0e-1d4e8d0b6a77:default:hello-flow-x7k2p", None),
            Infra::Kubernetes {
                cluster_uid: Some("3b1a1c2e-5f2b-4f55-9a0e-1d4e8d0b6a77".into()),
                namespace: "default".into(),
                job: "hello-flow-x7k2p".into()
            }
        );
        // A job named with digits only is still a job in a Kubernetes pool.
        assert!(matches!(parse("ns:12345", Some("kubernetes")), Infra::Kubernetes { .. }));
        assert_eq!(
            parse("prod::arn:aws:ecs:us-east-1:123456789012:task/prod/0a1b2c3d", Some("ecs")),
            Infra::Ecs {
                cluster: "prod".into(),
                task_arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/0a1b2c3d".into()
            }
        );
        assert_eq!(
            parse("unix:///var/run/docker.sock:5f2b9a", None),
            Infra::Docker { base_url: "unix:///var/run/docker.sock".into(), container: "5f2b9a".into() }
        );
        assert_eq!(parse("???", None), Infra::Unknown("???".into()));
    }

    /// The inspect commands name the right objects.
    #[test]
    fn inspect_commands() {
        let k = parse("prefect-jobs:diag-flow-abc12", Some("kubernetes"));
        assert_eq!(k.describe(), "Kubernetes job prefect-jobs/diag-flow-abc12");
        assert!(k.inspect("r1")[0].ends_with("kubectl describe job diag-flow-abc12 -n prefect-jobs"));
        assert!(k.inspect("r1")[1].contains("-l prefect.io/flow-run-id=r1"));
        let e = parse("prod::arn:aws:ecs:us-east-1:1:task/prod/abc", None);
        assert!(
            e.inspect("r")[0]
                .ends_with("aws ecs describe-tasks --cluster prod --tasks arn:aws:ecs:us-east-1:1:task/prod/abc")
        );
        assert_eq!(parse("vm:1", None).subject(), "process/vm/1");
    }
}
