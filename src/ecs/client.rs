//! The AWS clients of the ECS backend: credentials and region from the usual AWS configuration
//! (environment, profiles, `AWS_ENDPOINT_URL`), the SDK's hyper client on the ring provider, the
//! read-only policy as an interceptor every operation of both clients passes before it is sent, and
//! the command's deadline on every call.
//!
//! Responses are kept in their AWS JSON 1.1 wire shapes (what `evidence::ecs` stores and the recorded
//! fixtures hold): a per-call interceptor copies the body the SDK received, and the redactor scrubs it
//! before it is read. Every body is bounded before the SDK buffers it (AWS answers these reads in well
//! under a megabyte; whatever sends more is refused, not held in memory).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ecs::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
    BeforeSerializationInterceptorContextRef,
};
use aws_sdk_ecs::config::{ConfigBag, Intercept, ProvideCredentials, RuntimeComponents};
use aws_sdk_ecs::error::BoxError;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::evidence::{Failure, FailureKind};
use crate::policy::{self, Op};
use crate::redact::Redactor;

/// How the ECS backend was asked to read AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// `--aws-profile`.
    pub profile: Option<String>,
    /// `--aws-region`.
    pub region: Option<String>,
    /// `--no-ecs`.
    pub disabled: bool,
}

/// Why there is no client.
#[derive(Debug, Clone)]
pub enum NotConnected {
    /// Nothing says where or as whom to read AWS.
    NotConfigured,
    Failed(Failure),
}

/// What an AWS call came back with, when not a response.
#[derive(Debug, Clone)]
pub enum AwsError {
    /// AccessDenied (IAM): what the operation needs.
    Denied {
        needs: String,
        message: String,
    },
    /// The API answered with an error code (ClusterNotFoundException, ResourceNotFoundException, …).
    Service {
        code: String,
        message: String,
    },
    Timeout,
    Unreachable(String),
    Other(String),
}

impl AwsError {
    pub fn failure(&self, redactor: &Redactor) -> Failure {
        let r = |s: &str| redactor.redact(s).into_owned();
        match self {
            AwsError::Denied { needs, message } => {
                Failure { kind: FailureKind::Forbidden, message: r(message), needs: Some(needs.clone()) }
            }
            AwsError::Service { code, message } => Failure::new(FailureKind::Other, r(&format!("{code}: {message}"))),
            AwsError::Timeout => Failure::new(FailureKind::Timeout, "AWS did not answer within the command's deadline"),
            AwsError::Unreachable(m) => Failure::new(FailureKind::Unreachable, r(m)),
            AwsError::Other(m) => Failure::new(FailureKind::Other, r(m)),
        }
    }

    /// The service's error code, when it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The policy's service name for an SDK's.
fn policy_service(sdk_service: &str) -> &str {
    match sdk_service {
        "ECS" => "ecs",
        "CloudWatch Logs" => "logs",
        other => other,
    }
}

/// The read-only policy, judging every operation of both clients before it is serialized; it also
/// counts what was sent and records the operations (for the sources section and the tests).
#[derive(Debug, Default)]
struct PolicyInterceptor {
    sent: AtomicU64,
    operations: Mutex<Vec<String>>,
}

impl Intercept for PolicyInterceptor {
    fn name(&self) -> &'static str {
        "unstuck-read-only-policy"
    }

    // Not `read_before_execution`: client interceptors run that before the operation's own config
    // (which holds its name) is applied. Serialization is still before anything is sent.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Err("refused by the read-only policy: an AWS operation without a name".into());
        };
        let service = policy_service(meta.service());
        policy::check(&Op::Aws { service, operation: meta.name() })?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut ops) = self.operations.lock() {
            ops.push(format!("{service}:{}", meta.name()));
        }
        Ok(())
    }
}

/// Shares one policy interceptor between both clients' configs.
#[derive(Debug, Clone)]
struct SharedPolicy(Arc<PolicyInterceptor>);

impl Intercept for SharedPolicy {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.read_before_serialization(context, runtime_components, cfg)
    }
}

/// Largest response body read (GetLogEvents answers at most 1 MB, DescribeTasks a few kB per task).
pub const MAX_BODY: usize = 8 << 20;

/// A response body past MAX_BODY.
#[derive(Debug, thiserror::Error)]
#[error("the answer is larger than {} MiB; not read", MAX_BODY >> 20)]
struct TooLarge;

/// Bounds every response body before the SDK reads it: refused at once when its `Content-Length`
/// says it is too large, else cut off by a length limit as it streams in.
#[derive(Debug)]
struct BoundedBody;

impl Intercept for BoundedBody {
    fn name(&self) -> &'static str {
        "unstuck-bounded-body"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        let announced = response.headers().get("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(TooLarge.into());
        }
        let body = std::mem::replace(response.body_mut(), aws_smithy_types::body::SdkBody::taken());
        *response.body_mut() = aws_smithy_types::body::SdkBody::from_body_1_x(http_body_util::BodyExt::map_err(
            http_body_util::Limited::new(body, MAX_BODY),
            |e| {
                if e.is::<http_body_util::LengthLimitError>() { BoxError::from(TooLarge) } else { e }
            },
        ));
        Ok(())
    }
}

/// Copies one call's response body (the wire JSON) once the SDK has read it.
#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "unstuck-capture-body"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            if let Ok(mut slot) = self.0.lock() {
                *slot = Some(bytes.to_vec());
            }
        }
        Ok(())
    }
}

impl Capture {
    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

/// Both AWS clients, the deadline, and what was sent.
pub struct EcsClient {
    pub ecs: aws_sdk_ecs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub region: Option<String>,
    policy: Arc<PolicyInterceptor>,
    deadline: Instant,
}

/// Whether anything at all configures AWS here: explicit flags, credentials or a profile in the
/// environment, profile files, an endpoint, a container or web-identity role.
pub fn aws_configured(settings: &AwsSettings) -> bool {
    const VARS: &[&str] = &[
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_ECS",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ];
    if settings.profile.is_some() || settings.region.is_some() {
        return true;
    }
    if VARS.iter().any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty())) {
        return true;
    }
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
            .is_some_and(|p| p.is_file())
    };
    file("AWS_CONFIG_FILE", "config") || file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
}

/// The region: `--aws-region`, else `AWS_REGION` (or `AWS_DEFAULT_REGION`), else the one in the task's
/// ARN; `None` leaves it to the profile.
pub fn choose_region(settings: &AwsSettings, arn_region: Option<&str>) -> Option<String> {
    let env = |v: &str| std::env::var(v).ok().filter(|s| !s.trim().is_empty());
    settings
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| arn_region.map(str::to_string))
}

/// The SDK's standard retries (throttling, 5xx, dropped connections) with a quicker first backoff
/// than its 1 s: unstuck runs when something is already broken, and the operation timeout (the
/// command's deadline) bounds them all.
fn retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5))
}

/// Error codes AWS throttles with.
const THROTTLING: &[&str] =
    &["ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "RateExceeded"];

/// Credentials are looked up at most this long (an instance-metadata lookup off EC2 never answers).
const CREDENTIALS_WAIT: Duration = Duration::from_secs(3);

impl EcsClient {
    pub async fn connect(
        settings: &AwsSettings,
        budget: Duration,
        arn_region: Option<&str>,
    ) -> Result<EcsClient, NotConnected> {
        if !aws_configured(settings) {
            return Err(NotConnected::NotConfigured);
        }
        let deadline = Instant::now() + budget;
        let http = https_client();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(budget.min(Duration::from_secs(10)))
            .operation_timeout(budget)
            .build();
        let region = choose_region(settings, arn_region);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(retries());
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let sdk = loader.load().await;
        let region = region.or_else(|| sdk.region().map(|r| r.to_string()));
        if region.is_none() {
            return Err(NotConnected::Failed(Failure::new(
                FailureKind::Other,
                "no AWS region: pass --aws-region or set AWS_REGION",
            )));
        }
        // Resolve the credentials once, with a cap, and hand the clients what was found.
        let Some(provider) = sdk.credentials_provider() else {
            return Err(NotConnected::NotConfigured);
        };
        let wait = CREDENTIALS_WAIT.min(budget);
        let credentials = match tokio::time::timeout(wait, provider.provide_credentials()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(NotConnected::Failed(Failure::new(
                    FailureKind::Credentials,
                    format!("no usable AWS credentials: {}", error_chain(&e)),
                )));
            }
            Err(_) => {
                return Err(NotConnected::Failed(Failure::new(
                    FailureKind::Credentials,
                    format!("no AWS credentials found within {}s", wait.as_secs()),
                )));
            }
        };
        Ok(EcsClient::build(&sdk, credentials, region, deadline))
    }

    /// Both clients from one AWS config, with the policy interceptor on each.
    fn build(
        sdk: &aws_config::SdkConfig,
        credentials: aws_sdk_ecs::config::Credentials,
        region: Option<String>,
        deadline: Instant,
    ) -> EcsClient {
        let policy = Arc::new(PolicyInterceptor::default());
        let ecs_conf = aws_sdk_ecs::config::Builder::from(sdk)
            .credentials_provider(credentials.clone())
            .interceptor(SharedPolicy(policy.clone()))
            .interceptor(BoundedBody)
            .build();
        let logs_conf = aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
            .credentials_provider(credentials)
            .interceptor(SharedPolicy(policy.clone()))
            .interceptor(BoundedBody)
            .build();
        EcsClient {
            ecs: aws_sdk_ecs::Client::from_conf(ecs_conf),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(logs_conf),
            region,
            policy,
            deadline,
        }
    }

    /// Operations sent (retries are the SDK's and not counted).
    pub fn request_count(&self) -> u64 {
        self.policy.sent.load(Ordering::Relaxed)
    }

    /// `service:Operation` of every operation sent, in order.
    pub fn operations(&self) -> Vec<String> {
        self.policy.operations.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Sends one call within the deadline and returns its response body as redacted JSON. `needs` is
    /// the IAM action named when access is denied.
    pub async fn call<O, E>(
        &self,
        needs: &str,
        capture: &Capture,
        send: impl std::future::Future<Output = Result<O, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
        redactor: &Redactor,
    ) -> Result<serde_json::Value, AwsError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(AwsError::Timeout);
        }
        match tokio::time::timeout(left, send).await {
            Err(_) => Err(AwsError::Timeout),
            Ok(Ok(_)) => {
                let body = capture.take().ok_or_else(|| AwsError::Other(format!("{needs}: no response body")))?;
                let mut v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| AwsError::Other(format!("{needs}: the response is not JSON: {e}")))?;
                redactor.redact_json_strings(&mut v);
                Ok(v)
            }
            Ok(Err(e)) => Err(classify(needs, &e)),
        }
    }
}

fn classify<E>(needs: &str, e: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(too_large) = c.downcast_ref::<TooLarge>() {
            return AwsError::Other(format!("{needs}: {too_large}"));
        }
        cause = c.source();
    }
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            let code = err.code().unwrap_or("UnknownError").to_string();
            let message = err.message().unwrap_or_default().to_string();
            let status = s.raw().status().as_u16();
            if code.contains("AccessDenied") || code == "UnauthorizedOperation" || status == 403 {
                AwsError::Denied { needs: needs.to_string(), message: format!("{code}: {message}") }
            } else if THROTTLING.contains(&code.as_str()) || status == 429 {
                AwsError::Other(format!("AWS still throttled {needs} after retries ({code}: {message})"))
            } else {
                AwsError::Service { code, message }
            }
        }
        SdkError::TimeoutError(_) => AwsError::Timeout,
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                AwsError::Timeout
            } else {
                AwsError::Unreachable(format!("AWS is unreachable: {}", error_chain(e)))
            }
        }
        _ => AwsError::Other(error_chain(e)),
    }
}

/// An error and its sources, on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The SDK's hyper client with rustls on ring (the provider the rest of unstuck installs).
fn https_client() -> aws_sdk_ecs::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str) -> EcsClient {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .http_client(https_client())
            .build();
        let credentials = aws_sdk_ecs::config::Credentials::new("AKIDEXAMPLE", "not-a-secret", None, None, "test");
        EcsClient::build(&sdk, credentials, Some("us-east-1".into()), Instant::now() + Duration::from_secs(10))
    }

    /// A write (StopTask, DeleteLogGroup) is refused by the interceptor before anything is sent: the
    /// endpoint never sees a connection. A read passes it and is counted.
    #[test]
    fn writes_are_refused_before_they_are_sent() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let c = client(&format!("http://{}", listener.local_addr().unwrap()));
            let stop = c.ecs.stop_task().cluster("prefect").task("abc").send().await.unwrap_err();
            assert!(error_chain(&stop).contains("refused by the read-only policy"), "{}", error_chain(&stop));
            let delete = c.logs.delete_log_group().log_group_name("prefect").send().await.unwrap_err();
            assert!(error_chain(&delete).contains("logs:DeleteLogGroup"), "{}", error_chain(&delete));
            assert!(listener.accept().is_err(), "a refused operation reached the endpoint");
            assert_eq!(c.request_count(), 0);

            // Nothing listens any more: the read is allowed, sent, counted, and fails as unreachable.
            drop(listener);
            let cap = Capture::default();
            let send =
                c.ecs.describe_tasks().cluster("prefect").tasks("abc").customize().interceptor(cap.clone()).send();
            let err = c.call("ecs:DescribeTasks", &cap, send, &Redactor::default()).await.unwrap_err();
            assert!(matches!(err, AwsError::Unreachable(_)), "{err:?}");
            assert_eq!(c.operations(), ["ecs:DescribeTasks"]);
        });
    }

    /// An answer past MAX_BODY streamed without a Content-Length (chunked) is cut off by the bound, not
    /// buffered whole, and fails the call with one line naming the action.
    #[test]
    fn a_chunked_answer_past_the_bound_is_refused() {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let _ = reader.read_exact(&mut vec![0; length]);
                    let mut conn = conn;
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ntransfer-encoding: chunked\r\n\r\n";
                    let chunk = format!("{:x}\r\n{}\r\n", 1 << 16, " ".repeat(1 << 16));
                    let _ = conn.write_all(head.as_bytes());
                    // Twice the bound, then the end of the body.
                    for _ in 0..((2 * MAX_BODY) >> 16) {
                        if conn.write_all(chunk.as_bytes()).is_err() {
                            return;
                        }
                    }
                    let _ = conn.write_all(b"0\r\n\r\n");
                });
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let c = client(&endpoint);
            let cap = Capture::default();
            let send =
                c.ecs.describe_tasks().cluster("prefect").tasks("abc").customize().interceptor(cap.clone()).send();
            let err = c.call("ecs:DescribeTasks", &cap, send, &Redactor::default()).await.unwrap_err();
            let AwsError::Other(message) = err else { panic!("{err:?}") };
            assert_eq!(message, "ecs:DescribeTasks: the answer is larger than 8 MiB; not read");
        });
    }

    /// --aws-region wins over the task ARN's region, and counts as AWS configuration.
    #[test]
    fn region_order() {
        let s = AwsSettings { region: Some("eu-west-1".into()), ..AwsSettings::default() };
        assert_eq!(choose_region(&s, Some("us-east-1")).as_deref(), Some("eu-west-1"));
        assert!(aws_configured(&s));
    }
}
