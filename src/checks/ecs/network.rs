//! The task's network cannot be set up. (`ecs.network`)

use std::sync::LazyLock;

use regex::Regex;

use super::classify::{self, Net};
use super::{View, quote};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity};
use crate::shell::sh;

pub const NETWORK: CheckInfo = CheckInfo {
    id: "ecs.network",
    title: "the ECS task's network could not be set up",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reads the task's stoppedReason and the worker's RunTask errors for networking failures:
  eni-timeout          \"Timeout waiting for network interface provisioning to complete\": the awsvpc ENI
                       could not be attached (subnet out of free IP addresses, ENI limits on the instance)
  subnet               \"The subnet ID 'subnet-…' does not exist\" (InvalidSubnetID.NotFound), or no free
                       addresses in the subnet
  security-group       a security group in the network configuration does not exist
  service-linked-role  \"Unable to assume the service linked role\": the account has no
                       AWSServiceRoleForECS, which ECS needs to manage network interfaces

Why it matters: the task never gets a network interface, so no container starts; RunTask errors mean
no task was created at all and the run crashes at submission or stays Pending.",
    remediation: &[
        "Fix the subnets / security groups in the network_configuration job variable (they must exist in the task's region and VPC: vpc_id)",
        "Create ECS's service-linked role once per account: aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com",
        "For ENI timeouts: check the subnet's free addresses and retry",
    ],
};

static SUBNET_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bsubnet-[0-9a-f]+\b").unwrap_or_else(|e| panic!("subnet pattern: {e}")));
static SG_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bsg-[0-9a-f]+\b").unwrap_or_else(|e| panic!("security group pattern: {e}")));

pub(super) fn network(v: &View<'_>) -> Vec<Finding> {
    let Some((label, text, kind)) =
        v.reasons_and_logs().into_iter().find_map(|(label, text)| classify::network(text).map(|k| (label, text, k)))
    else {
        return vec![];
    };
    let region = v.ecs.region.as_deref().map(|r| format!(" --region {}", sh(r))).unwrap_or_default();
    let eni_subnet = v.task.and_then(|t| t.eni()).and_then(|a| a.detail("subnetId")).map(str::to_string);
    let subnet = SUBNET_ID.find(text).map(|m| m.as_str().to_string()).or(eni_subnet);
    let (title, why) = match kind {
        Net::ServiceLinkedRole => (
            "ECS cannot assume its service-linked role: the account has no AWSServiceRoleForECS".to_string(),
            "ECS needs the AWSServiceRoleForECS service-linked role to manage the task's network interface, and it does not exist",
        ),
        Net::Subnet => (
            format!("The task's subnet {} is not usable", subnet.as_deref().unwrap_or("")).replace("  ", " "),
            "a subnet in the network configuration does not exist in this region/account, or has no free addresses",
        ),
        Net::SecurityGroup => (
            "A security group in the task's network configuration does not exist".to_string(),
            "a security group in the network configuration does not exist in the task's VPC",
        ),
        Net::EniTimeout => (
            "The task's network interface was not provisioned in time".to_string(),
            "ECS timed out attaching the task's awsvpc network interface (subnet out of addresses, ENI limits)",
        ),
    };
    let mut f = Finding::new(&NETWORK, Severity::Critical, title)
        .detail(format!("{}: {why}.", kind.token()))
        .evidence(format!("{label}: {}", quote(text)));
    if let Some(code) = v.stop_code_evidence() {
        f = f.evidence(code);
    }
    if let Some(eni) = v.task.and_then(|t| t.eni()) {
        f = f.evidence(format!(
            "network interface attachment: status {}{}",
            eni.status.as_deref().unwrap_or("?"),
            eni.detail("subnetId").map(|s| format!(", subnet {s}")).unwrap_or_default()
        ));
    }
    f = match kind {
        Net::ServiceLinkedRole => f
            .fix("Create it once for the account: aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com")
            .fix("The worker's identity needs iam:CreateServiceLinkedRole for ECS to create it on first use"),
        Net::Subnet => {
            let f = f.fix("Use subnets that exist in the task's region and VPC: the network_configuration job variable (and vpc_id)");
            match &subnet {
                Some(s) => f.fix(format!("Check the subnet: aws ec2 describe-subnets --subnet-ids {}{region}", sh(s))),
                None => f,
            }
        }
        Net::SecurityGroup => {
            let f = f.fix("Use security groups of the task's VPC: the network_configuration job variable (securityGroups)");
            match SG_ID.find(text) {
                Some(sg) => f.fix(format!("Check the group: aws ec2 describe-security-groups --group-ids {}{region}", sh(sg.as_str()))),
                None => f,
            }
        }
        Net::EniTimeout => {
            let f = f.fix("Retry the run; if it repeats, use subnets with free addresses (network_configuration job variable) or fewer tasks per instance (ENI limits)");
            match &subnet {
                Some(s) => f.fix(format!(
                    "Check the subnet's free addresses: aws ec2 describe-subnets --subnet-ids {}{region} --query 'Subnets[].AvailableIpAddressCount'",
                    sh(s)
                )),
                None => f,
            }
        }
    };
    if let Some(cmd) = v.describe_tasks() {
        f = f.fix(format!("Read the task's reasons: {cmd}"));
    }
    vec![f.subject(v.subject())]
}

/// Every pattern of this file is a literal compiled on first use: compiling them all here makes an
/// invalid one fail the tests instead of a diagnosis.
#[cfg(test)]
mod pattern_tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        for p in [&*SUBNET_ID, &*SG_ID] {
            assert!(!p.as_str().is_empty());
        }
    }
}
