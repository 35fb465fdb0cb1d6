//! Finds a flow run's ECS task and reads what the `ecs.*` checks need: the task (with its tags), its
//! task definition, its cluster and the cluster's capacity providers, and the flow-run container's
//! CloudWatch log tail. The task comes from the `infrastructure_pid` (`<cluster>::<task arn>`), else
//! from ListTasks on the job's cluster by the `prefect.io/flow-run-id` tag. Selection is
//! `evidence::ecs`'s, which the recorded scenarios share.

use futures_util::future::join;
use serde::de::DeserializeOwned;

use super::client::{AwsError, Capture, EcsClient};
use crate::evidence::Source;
use crate::evidence::ecs::{
    ContainerLogs, DescribeCapacityProvidersResponse, DescribeClustersResponse, DescribeTaskDefinitionResponse,
    DescribeTasksResponse, EcsEvidence, FLOW_RUN_ID_TAG, Failure, Located, LogEventsResponse, Lookup,
    PREFECT_CONTAINER, Task, TaskDefinition, Unread, arn_region, awslogs_stream, failure_for, log_tail, parse_task_arn,
    select_cluster, select_task,
};
use crate::redact::Redactor;

/// Lines kept of the flow container's log, and the bytes one line may keep.
pub const LOG_LINES: usize = 50;
const LINE_BYTES: usize = 2048;
/// Tasks listed per status (ListTasks' page size) when searching by tag.
const LIST_MAX: i32 = 100;

/// What the collector knows of the run before it looks.
#[derive(Debug, Clone)]
pub struct Target {
    pub run_id: String,
    pub infrastructure_pid: Option<String>,
    /// `(cluster, task arn)` from the pid.
    pub pid: Option<(String, String)>,
    /// The job's `cluster` variable, for the search by tag (ECS's own default is `default`).
    pub cluster: Option<String>,
}

struct Reader<'a> {
    client: &'a EcsClient,
    redactor: &'a Redactor,
    /// Side reads that failed (denied, throttled past the deadline, …): the rest still counts.
    unread: std::cell::RefCell<Vec<Unread>>,
}

impl Reader<'_> {
    async fn read<T: DeserializeOwned, O, E>(
        &self,
        needs: &str,
        capture: Capture,
        send: impl std::future::Future<
            Output = Result<
                O,
                aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
            >,
        >,
    ) -> Result<T, AwsError>
    where
        E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let v = self.client.call(needs, &capture, send, self.redactor).await?;
        serde_json::from_value(v).map_err(|e| AwsError::Other(format!("unexpected {needs} response: {e}")))
    }

    /// Records a side read that failed for a reason other than the object not existing.
    fn unread(&self, action: &str, e: &AwsError) {
        let f = e.failure(self.redactor);
        self.unread.borrow_mut().push(Unread { action: action.to_string(), kind: f.kind, message: f.message });
    }

    /// A side read's error: an object that does not exist is evidence; anything else is recorded as
    /// unread and leaves the object unchecked.
    fn missing_or_unread<T>(&self, needs: &str, e: &AwsError, arn: &str) -> Lookup<T> {
        match not_found_or_unchecked(e, arn) {
            Lookup::NotChecked => {
                self.unread(needs, e);
                Lookup::NotChecked
            }
            missing => missing,
        }
    }

    async fn describe_tasks(&self, cluster: &str, arns: Vec<String>) -> Result<DescribeTasksResponse, AwsError> {
        let cap = Capture::default();
        let send = self
            .client
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .customize()
            .interceptor(cap.clone())
            .send();
        self.read("ecs:DescribeTasks", cap, send).await
    }

    async fn list_tasks(
        &self,
        cluster: &str,
        status: aws_sdk_ecs::types::DesiredStatus,
    ) -> Result<Vec<String>, AwsError> {
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct ListTasks {
            task_arns: Vec<String>,
        }
        let cap = Capture::default();
        let send = self
            .client
            .ecs
            .list_tasks()
            .cluster(cluster)
            .desired_status(status)
            .max_results(LIST_MAX)
            .customize()
            .interceptor(cap.clone())
            .send();
        self.read::<ListTasks, _, _>("ecs:ListTasks", cap, send).await.map(|l| l.task_arns)
    }

    async fn describe_cluster(&self, cluster: &str) -> Lookup<crate::evidence::ecs::Cluster> {
        let cap = Capture::default();
        let send = self.client.ecs.describe_clusters().clusters(cluster).customize().interceptor(cap.clone()).send();
        match self.read::<DescribeClustersResponse, _, _>("ecs:DescribeClusters", cap, send).await {
            Ok(resp) => select_cluster(&resp, cluster),
            Err(e) => self.missing_or_unread("ecs:DescribeClusters", &e, cluster),
        }
    }

    async fn describe_task_definition(&self, arn: &str) -> Lookup<TaskDefinition> {
        let cap = Capture::default();
        let send =
            self.client.ecs.describe_task_definition().task_definition(arn).customize().interceptor(cap.clone()).send();
        match self.read::<DescribeTaskDefinitionResponse, _, _>("ecs:DescribeTaskDefinition", cap, send).await {
            Ok(DescribeTaskDefinitionResponse { task_definition: Some(td) }) => Lookup::Found(td),
            Ok(_) => Lookup::NotChecked,
            Err(e) => self.missing_or_unread("ecs:DescribeTaskDefinition", &e, arn),
        }
    }

    async fn capacity_providers(&self, names: Vec<String>) -> Vec<crate::evidence::ecs::CapacityProvider> {
        // FARGATE and FARGATE_SPOT are AWS's own: DescribeCapacityProviders has nothing to say of them.
        let names: Vec<String> = names.into_iter().filter(|n| !n.starts_with("FARGATE")).collect();
        if names.is_empty() {
            return Vec::new();
        }
        let cap = Capture::default();
        let send = self
            .client
            .ecs
            .describe_capacity_providers()
            .set_capacity_providers(Some(names))
            .customize()
            .interceptor(cap.clone())
            .send();
        match self.read::<DescribeCapacityProvidersResponse, _, _>("ecs:DescribeCapacityProviders", cap, send).await {
            Ok(r) => r.capacity_providers,
            Err(e) => {
                self.unread("ecs:DescribeCapacityProviders", &e);
                Vec::new()
            }
        }
    }

    /// The tail of one log stream; a stream that does not exist is evidence (the container never ran).
    async fn log_tail(&self, group: &str, stream: &str) -> Option<ContainerLogs> {
        let cap = Capture::default();
        let send = self
            .client
            .logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(false)
            .limit(i32::try_from(LOG_LINES).unwrap_or(50))
            .customize()
            .interceptor(cap.clone())
            .send();
        match self.read::<LogEventsResponse, _, _>("logs:GetLogEvents", cap, send).await {
            Ok(mut resp) => {
                for e in &mut resp.events {
                    if let Some(m) = e.message.as_mut() {
                        *m = self.redactor.redact(&truncate(m, LINE_BYTES)).into_owned();
                    }
                }
                // GetLogEvents read backwards (startFromHead=false) pages forward: there may be older lines.
                let mut tail = log_tail(group, stream, &resp, LOG_LINES);
                if let ContainerLogs::LogTail { truncated, lines, .. } = &mut tail {
                    *truncated = *truncated || lines.len() >= LOG_LINES;
                }
                Some(tail)
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                Some(ContainerLogs::NoStream { group: group.to_string(), stream: stream.to_string() })
            }
            Err(e) => {
                self.unread("logs:GetLogEvents", &e);
                None
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A Describe* error: the API not knowing the object is evidence; anything else leaves it unchecked.
fn not_found_or_unchecked<T>(e: &AwsError, arn: &str) -> Lookup<T> {
    match e.code() {
        Some(code) if code.contains("NotFound") || code == "ClientException" => Lookup::Missing(Failure {
            arn: Some(arn.to_string()),
            reason: Some(code.to_string()),
            detail: match e {
                AwsError::Service { message, .. } if !message.is_empty() => Some(message.clone()),
                _ => None,
            },
        }),
        _ => Lookup::NotChecked,
    }
}

/// Collects the run's ECS evidence.
pub async fn collect(client: &EcsClient, target: &Target, redactor: &Redactor) -> Source<EcsEvidence> {
    let reader = Reader { client, redactor, unread: Default::default() };
    let mut cluster_lookup: Option<Lookup<crate::evidence::ecs::Cluster>> = None;

    let (located, task) = match &target.pid {
        Some((cluster, arn)) => {
            let located = Located::ByPid { cluster: cluster.clone(), task_arn: arn.clone() };
            let task = match reader.describe_tasks(cluster, vec![arn.clone()]).await {
                Ok(resp) => match select_task(&resp.tasks, Some(arn), &target.run_id) {
                    Some(t) => Lookup::Found(t.clone()),
                    None => Lookup::Missing(failure_for(&resp.failures, arn).cloned().unwrap_or(Failure {
                        arn: Some(arn.clone()),
                        reason: Some("MISSING".into()),
                        detail: None,
                    })),
                },
                Err(e) if e.code() == Some("ClusterNotFoundException") => {
                    cluster_lookup = Some(not_found_or_unchecked(&e, cluster));
                    Lookup::NotChecked
                }
                Err(e) => return Source::Failed(e.failure(redactor)),
            };
            (located, task)
        }
        None => {
            let cluster = target.cluster.clone().unwrap_or_else(|| "default".into());
            let (running, stopped) = join(
                reader.list_tasks(&cluster, aws_sdk_ecs::types::DesiredStatus::Running),
                reader.list_tasks(&cluster, aws_sdk_ecs::types::DesiredStatus::Stopped),
            )
            .await;
            let mut arns = Vec::new();
            for list in [running, stopped] {
                match list {
                    Ok(a) => arns.extend(a),
                    Err(e) if e.code() == Some("ClusterNotFoundException") => {
                        cluster_lookup = Some(not_found_or_unchecked(&e, &cluster));
                    }
                    Err(e) => return Source::Failed(e.failure(redactor)),
                }
            }
            arns.sort();
            arns.dedup();
            let mut tasks: Vec<Task> = Vec::new();
            for chunk in arns.chunks(100) {
                match reader.describe_tasks(&cluster, chunk.to_vec()).await {
                    Ok(resp) => tasks.extend(resp.tasks),
                    Err(e) => return Source::Failed(e.failure(redactor)),
                }
            }
            match select_task(&tasks, None, &target.run_id) {
                Some(t) => (Located::ByTag { cluster, listed: tasks.len() }, Lookup::Found(t.clone())),
                None => (
                    Located::NotFound {
                        tried: format!(
                            "no infrastructure_pid; no task tagged {FLOW_RUN_ID_TAG}={} among {} tasks of cluster {cluster}",
                            target.run_id,
                            tasks.len()
                        ),
                        cluster: Some(cluster),
                    },
                    Lookup::NotChecked,
                ),
            }
        }
    };

    let cluster_arg = located.cluster().map(str::to_string);
    let td_arn = task.found().and_then(|t| t.task_definition_arn.clone());
    let cluster_fut = async {
        match (&cluster_lookup, &cluster_arg) {
            (Some(l), _) => l.clone(),
            (None, Some(c)) => reader.describe_cluster(c).await,
            (None, None) => Lookup::NotChecked,
        }
    };
    let td_fut = async {
        match &td_arn {
            Some(arn) => reader.describe_task_definition(arn).await,
            None => Lookup::NotChecked,
        }
    };
    let (cluster, task_definition) = join(cluster_fut, td_fut).await;

    let providers = cluster.found().map(|c| c.capacity_providers.clone()).unwrap_or_default();
    let logs_fut = async {
        let t = task.found()?;
        let td = task_definition.found()?;
        let container = if t.container(PREFECT_CONTAINER).is_some() {
            PREFECT_CONTAINER.to_string()
        } else {
            t.containers.first().and_then(|c| c.name.clone())?
        };
        let Some((group, prefix)) = td.container(&container).and_then(|cd| cd.awslogs()) else {
            return Some(ContainerLogs::NoLogConfiguration);
        };
        let stream = awslogs_stream(prefix, &container, t.id()?);
        reader.log_tail(group, &stream).await
    };
    let (capacity_providers, logs) = join(reader.capacity_providers(providers), logs_fut).await;

    let selected_arn = task.found().and_then(|t| t.task_arn.clone());
    let region = selected_arn
        .as_deref()
        .and_then(|a| parse_task_arn(a).map(|p| p.region.to_string()))
        .or_else(|| target.pid.as_ref().and_then(|(_, arn)| parse_task_arn(arn)).map(|p| p.region.to_string()))
        .or_else(|| cluster.found().and_then(|c| c.cluster_arn.as_deref()).and_then(arn_region).map(str::to_string))
        .or_else(|| client.region.clone());

    Source::ok(EcsEvidence {
        infrastructure_pid: target.infrastructure_pid.clone(),
        located,
        region,
        cluster,
        task,
        task_definition,
        capacity_providers,
        logs,
        unread: reader.unread.into_inner(),
    })
}

pub fn skipped(reason: &str, hint: Option<&str>) -> Source<EcsEvidence> {
    Source::Skipped { reason: reason.into(), hint: hint.map(str::to_string) }
}
