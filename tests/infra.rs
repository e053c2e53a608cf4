//! `infra/` agrees with the code: the template's table is the gateway's own
//! definition, the task role allows exactly the AWS calls the code makes (no
//! more, no wildcards), and every `SPILLWAY_*` variable the template and the
//! Dockerfile set is a real flag. cfn-lint runs in tests/python/test_infra.py.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use spillway::registry::dynamo::table;
use yaml_rust2::{Yaml, YamlLoader};

const TEMPLATE: &str = "infra/spillway.yaml";

/// Calls the gateway makes only to create the table
/// (`SPILLWAY_DYNAMODB_CREATE_TABLE`). The stack creates the table itself, so
/// the deployed service must not be able to: the role leaves these out.
const CREATE_ONLY: [&str; 2] = ["dynamodb:CreateTable", "dynamodb:UpdateTimeToLive"];

/// Actions no SDK call is named for, which a call's parameters need: a
/// guardrail on InvokeModel or Converse (`SPILLWAY_GUARDRAIL_ID`, or a
/// request's own) is authorised by `bedrock:ApplyGuardrail` on it. The role
/// grants these on the template's guardrail parameter only.
const PARAMETER_ACTIONS: [(&str, &str); 1] = [("bedrock:ApplyGuardrail", "GuardrailArns")];

/// Every operation of the DynamoDB SDK client (aws-sdk-dynamodb 1.x), as the
/// fluent method names the code calls, plus its waiters.
const DYNAMODB_OPS: &[&str] = &[
    "batch_execute_statement",
    "batch_get_item",
    "batch_write_item",
    "create_backup",
    "create_global_table",
    "create_table",
    "delete_backup",
    "delete_item",
    "delete_resource_policy",
    "delete_table",
    "describe_backup",
    "describe_continuous_backups",
    "describe_contributor_insights",
    "describe_endpoints",
    "describe_export",
    "describe_global_table",
    "describe_global_table_settings",
    "describe_import",
    "describe_kinesis_streaming_destination",
    "describe_limits",
    "describe_table",
    "describe_table_replica_auto_scaling",
    "describe_time_to_live",
    "disable_kinesis_streaming_destination",
    "enable_kinesis_streaming_destination",
    "execute_statement",
    "execute_transaction",
    "export_table_to_point_in_time",
    "get_item",
    "get_resource_policy",
    "import_table",
    "list_backups",
    "list_contributor_insights",
    "list_exports",
    "list_global_tables",
    "list_imports",
    "list_tables",
    "list_tags_of_resource",
    "put_item",
    "put_resource_policy",
    "query",
    "restore_table_from_backup",
    "restore_table_to_point_in_time",
    "scan",
    "tag_resource",
    "transact_get_items",
    "transact_write_items",
    "untag_resource",
    "update_continuous_backups",
    "update_contributor_insights",
    "update_global_table",
    "update_global_table_settings",
    "update_item",
    "update_kinesis_streaming_destination",
    "update_table",
    "update_table_replica_auto_scaling",
    "update_time_to_live",
    "wait_until_table_exists",
    "wait_until_table_not_exists",
];

/// Every operation of the Bedrock runtime SDK client (aws-sdk-bedrockruntime 1.x).
const BEDROCK_OPS: &[&str] = &[
    "apply_guardrail",
    "converse",
    "converse_stream",
    "count_tokens",
    "get_async_invoke",
    "invoke_guardrail_checks",
    "invoke_model",
    "invoke_model_with_bidirectional_stream",
    "invoke_model_with_response_stream",
    "list_async_invokes",
    "start_async_invoke",
];

/// The IAM actions one SDK call needs.
fn iam_actions(service: &str, op: &str) -> Vec<String> {
    let named = |action: &str| vec![format!("{service}:{action}")];
    match (service, op) {
        // The Converse API is authorised by the InvokeModel actions.
        ("bedrock", "converse") => named("InvokeModel"),
        ("bedrock", "converse_stream") => named("InvokeModelWithResponseStream"),
        ("dynamodb", "wait_until_table_exists" | "wait_until_table_not_exists") => {
            named("DescribeTable")
        }
        (
            "dynamodb",
            "execute_statement"
            | "batch_execute_statement"
            | "execute_transaction"
            | "transact_write_items"
            | "transact_get_items",
        ) => panic!(
            "dynamodb `{op}` needs the item actions of what it does (PartiQL*, GetItem, \
             ConditionCheckItem, ...): map it in tests/infra.rs by hand"
        ),
        _ => named(&pascal(op)),
    }
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of the `.rs` files under `dir`, comment lines left out.
fn code_under(dir: &str) -> String {
    let mut files = Vec::new();
    rust_files(&root().join(dir), &mut files);
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(|l| format!("{l}\n"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The IAM actions the SDK calls under `dir` need.
fn actions_called(dir: &str, service: &str, ops: &[&str]) -> BTreeSet<String> {
    let code = code_under(dir);
    ops.iter()
        .filter(|op| code.contains(&format!(".{op}()")))
        .flat_map(|op| iam_actions(service, op))
        .collect()
}

/// YAML as JSON. yaml-rust2 drops CloudFormation's short-form tags and keeps
/// their argument: `!Ref DrainSecs` reads `"DrainSecs"`, `!GetAtt Table.Arn`
/// reads `"Table.Arn"`, `!Sub "${Table.Arn}/x"` reads `"${Table.Arn}/x"`.
fn json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::from(s.as_str()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Array(a) => a.iter().map(json).collect(),
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    other => panic!("non-string key {other:?} in {TEMPLATE}"),
                };
                (key, json(v))
            })
            .collect::<Map<_, _>>()
            .into(),
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join(TEMPLATE)).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    assert_eq!(docs.len(), 1, "{TEMPLATE} is one YAML document");
    json(&docs[0])
}

fn resources(t: &Value) -> &Map<String, Value> {
    t["Resources"].as_object().unwrap()
}

/// The one resource of this type: (logical id, resource).
fn only<'a>(t: &'a Value, kind: &str) -> (&'a str, &'a Value) {
    let found: Vec<_> = resources(t)
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "{TEMPLATE} has one {kind}");
    (found[0].0.as_str(), found[0].1)
}

/// A string or a list of strings.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// A list element as the template may write it: the element, or both
/// branches of an `!If [CONDITION, A, B]` (which reads as a list of three;
/// `!Ref AWS::NoValue` dropped).
fn branches(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) if a.len() == 3 && a[0].is_string() => {
            a[1..].iter().filter(|b| b.is_object()).collect()
        }
        other => vec![other],
    }
}

fn statements(policy_document: &Value) -> Vec<&Value> {
    match &policy_document["Statement"] {
        Value::Array(a) => a.iter().flat_map(branches).collect(),
        one @ Value::Object(_) => vec![one],
        _ => Vec::new(),
    }
}

/// Every statement granted to the role `role` (inline policies, and policy
/// resources attached to it by `!Ref`).
fn role_statements<'a>(t: &'a Value, role: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    let r = &resources(t)[role];
    assert!(
        r["Properties"].get("ManagedPolicyArns").is_none(),
        "{role} must not use managed policies: their actions can't be checked here"
    );
    for p in r["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(branches)
    {
        out.extend(statements(&p["PolicyDocument"]));
    }
    for r in resources(t).values() {
        let attached = match r["Type"].as_str() {
            Some("AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy") => {
                strings(&r["Properties"]["Roles"]).iter().any(|n| n == role)
            }
            Some("AWS::IAM::RolePolicy") => r["Properties"]["RoleName"] == role,
            _ => false,
        };
        if attached {
            out.extend(statements(&r["Properties"]["PolicyDocument"]));
        }
    }
    out
}

/// The task definition's one container.
fn container(t: &Value) -> &Value {
    let (_, td) = only(t, "AWS::ECS::TaskDefinition");
    let containers = td["Properties"]["ContainerDefinitions"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

/// The value the container's environment gives `name` (tags dropped: `!Ref P` reads `"P"`).
fn env_value<'a>(t: &'a Value, name: &str) -> &'a Value {
    container(t)["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Name"] == name)
        .map(|e| &e["Value"])
        .unwrap_or_else(|| panic!("the task definition sets {name}"))
}

#[test]
fn table_is_the_gateways_definition() {
    let t = template();
    let (_, table_resource) = only(&t, "AWS::DynamoDB::Table");
    let mut props = table_resource["Properties"].clone();
    props.as_object_mut().unwrap().remove("TableName");
    let gateway = table::cloudformation_properties();
    assert_eq!(
        props,
        gateway,
        "the table in {TEMPLATE} differs from src/registry/dynamo/table.rs:\ntemplate: {}\ngateway:  {}",
        serde_json::to_string_pretty(&props).unwrap(),
        serde_json::to_string_pretty(&gateway).unwrap()
    );
}

#[test]
fn task_role_allows_exactly_the_calls_the_code_makes() {
    // The SDK clients are used only where this test looks. The simulator is
    // its own crate (sim/, not scanned): only its tests use the Bedrock SDK,
    // against it, which needs no IAM.
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for f in &files {
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        if text.contains("aws_sdk_dynamodb") {
            assert!(
                rel.starts_with("src/registry/dynamo/"),
                "{rel} uses the DynamoDB SDK: scan it here and give the task role its actions"
            );
        }
        if text.contains("aws_sdk_bedrockruntime") {
            assert!(
                rel.starts_with("src/upstream/"),
                "{rel} uses the Bedrock SDK: scan it here and give the task role its actions"
            );
        }
    }

    let dynamo = actions_called("src/registry/dynamo", "dynamodb", DYNAMODB_OPS);
    let bedrock = actions_called("src/upstream", "bedrock", BEDROCK_OPS);
    assert!(
        dynamo.contains("dynamodb:CreateTable")
            && bedrock.contains("bedrock:InvokeModelWithResponseStream"),
        "the scan found no SDK calls: dynamodb {dynamo:?}, bedrock {bedrock:?}"
    );
    let expected: BTreeSet<String> = dynamo
        .iter()
        .chain(&bedrock)
        .filter(|a| !CREATE_ONLY.contains(&a.as_str()))
        .cloned()
        .chain(PARAMETER_ACTIONS.iter().map(|(a, _)| (*a).to_owned()))
        .collect();

    let t = template();
    let (_, task_definition) = only(&t, "AWS::ECS::TaskDefinition");
    let role = task_definition["Properties"]["TaskRoleArn"]
        .as_str()
        .and_then(|arn| arn.strip_suffix(".Arn"))
        .expect("TaskRoleArn is !GetAtt ROLE.Arn");
    let granted_statements = role_statements(&t, role);
    let mut granted = BTreeSet::new();
    for s in &granted_statements {
        assert_eq!(s["Effect"], "Allow", "{s}");
        assert!(
            s.get("NotAction").is_none() && s.get("NotResource").is_none(),
            "{s}"
        );
        granted.extend(strings(&s["Action"]));
    }
    assert_eq!(
        granted, expected,
        "the task role's actions (left) differ from the SDK calls in src/registry/dynamo/ and \
         src/upstream/ (right; create-only calls {CREATE_ONLY:?} left out, \
         {PARAMETER_ACTIONS:?} added)"
    );

    // Every action on this role's resources only: the table and its index,
    // the configured models and inference profiles.
    for s in &granted_statements {
        let actions = strings(&s["Action"]);
        // The ARNs (and ARN prefixes of `!Join`s), not delimiters or parameter names.
        let resources: Vec<String> = strings(&s["Resource"])
            .into_iter()
            .filter(|r| r == "*" || r.contains("arn:") || r.contains("Arn"))
            .collect();
        assert!(!resources.is_empty(), "{s}");
        if let Some((_, parameter)) = PARAMETER_ACTIONS
            .iter()
            .find(|(a, _)| actions.iter().any(|x| x == a))
        {
            assert_eq!(actions.len(), 1, "{s}");
            assert_eq!(resources, [*parameter], "{s}");
            continue;
        }
        for r in &resources {
            assert!(r != "*" && !r.ends_with("/*"), "wildcard resource in {s}");
            if actions.iter().all(|a| a.starts_with("dynamodb:")) {
                let index = format!("${{Table.Arn}}/index/{}", table::GSI1);
                assert!(
                    r == "Table.Arn" || *r == index,
                    "{r} is not the table or its index"
                );
            } else {
                assert!(
                    actions.iter().all(|a| a.starts_with("bedrock:"))
                        && (r.contains(":inference-profile/") || r.contains(":foundation-model/")),
                    "{r} is not a model or an inference profile: {s}"
                );
            }
        }
    }
}

#[test]
fn no_wildcard_actions_anywhere() {
    let t = template();
    fn walk(v: &Value, found: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "Action" || k == "NotAction" {
                        found.extend(strings(v).into_iter().filter(|a| a.contains('*')));
                    }
                    walk(v, found);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&t["Resources"], &mut found);
    assert!(
        found.is_empty(),
        "wildcard IAM actions in {TEMPLATE}: {found:?}"
    );
}

#[test]
fn every_spillway_variable_is_a_flag() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_spillway"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();

    let t = template();
    let c = container(&t);
    let mut names: Vec<String> = ["Environment", "Secrets"]
        .iter()
        .flat_map(|k| c[*k].as_array().unwrap().iter())
        .map(|e| e["Name"].as_str().unwrap().to_owned())
        .collect();
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    names.extend(
        dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix("ENV "))
            .flat_map(|l| l.split_whitespace())
            .filter_map(|kv| kv.split('=').next())
            .map(str::to_owned),
    );
    let spillway: Vec<_> = names
        .iter()
        .filter(|n| n.starts_with("SPILLWAY_"))
        .collect();
    assert!(spillway.len() > 10, "{names:?}");
    for name in spillway {
        assert!(
            help.contains(&format!("[env: {name}")),
            "{name} is set in infra/ or the Dockerfile but is no `spillway serve` flag"
        );
    }
    // The entrypoint derives it from the task metadata; a fixed value would
    // send every node's relays to one address.
    assert!(!names.iter().any(|n| n == "SPILLWAY_ADVERTISE_URL"));
}

#[test]
fn load_balancer_drains_and_checks_like_the_gateway() {
    let t = template();
    let (_, tg) = only(&t, "AWS::ElasticLoadBalancingV2::TargetGroup");
    let p = &tg["Properties"];
    assert_eq!(p["HealthCheckPath"], "/readyz");
    let delay = p["TargetGroupAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Key"] == "deregistration_delay.timeout_seconds")
        .map(|a| &a["Value"])
        .expect("the target group sets its deregistration delay");
    assert_eq!(
        delay,
        env_value(&t, "SPILLWAY_DRAIN_SECS"),
        "the deregistration delay and SPILLWAY_DRAIN_SECS come from the same parameter"
    );
    assert_eq!(env_value(&t, "SPILLWAY_LISTEN"), "0.0.0.0:8080");
    assert_eq!(env_value(&t, "SPILLWAY_AUTH"), "cognito");
    assert_eq!(env_value(&t, "SPILLWAY_REGISTRY"), "dynamodb");
}

#[test]
fn internal_routes_listen_on_a_port_only_the_tasks_reach() {
    let t = template();
    assert_eq!(env_value(&t, "SPILLWAY_INTERNAL_LISTEN"), "0.0.0.0:8081");
    let ports: Vec<i64> = container(&t)["PortMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ContainerPort"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, [8080, 8081]);
    // Every rule admitting 8081 admits the tasks' own group, nothing else.
    let mut admitting = 0;
    for (name, r) in resources(&t) {
        let rules: Vec<(&Value, &Value)> = match r["Type"].as_str() {
            Some("AWS::EC2::SecurityGroupIngress") => {
                vec![(&r["Properties"], &r["Properties"]["GroupId"])]
            }
            Some("AWS::EC2::SecurityGroup") => r["Properties"]["SecurityGroupIngress"]
                .as_array()
                .map(|a| a.iter().map(|rule| (rule, &Value::Null)).collect())
                .unwrap_or_default(),
            _ => continue,
        };
        for (rule, group) in rules {
            let (from, to) = (rule["FromPort"].as_i64(), rule["ToPort"].as_i64());
            if from.is_some_and(|f| f <= 8081) && to.is_some_and(|t| t >= 8081) {
                admitting += 1;
                assert_eq!(rule["SourceSecurityGroupId"], "TaskSecurityGroup", "{name}");
                assert_eq!(group, "TaskSecurityGroup", "{name}");
                assert!(rule.get("CidrIp").is_none(), "{name}");
            }
        }
    }
    assert_eq!(admitting, 1, "one rule opens the internal port");
    // The load balancer forwards to the public port only.
    let (_, tg) = only(&t, "AWS::ElasticLoadBalancingV2::TargetGroup");
    assert_eq!(tg["Properties"]["Port"], 8080);
}

/// The health checks that replace a container (ECS's, and the image's own
/// for Docker and Swarm) ask whether the process answers, not whether it is
/// ready: a registry blip fails `/readyz`, which should take a task out of
/// the load balancer, not kill its streams (infra/README.md, "Health checks").
#[test]
fn container_health_checks_are_liveness() {
    let t = template();
    let ecs = strings(&container(&t)["HealthCheck"]["Command"]);
    assert!(ecs.iter().any(|a| a.ends_with("/healthz")), "{ecs:?}");
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let check: String = dockerfile
        .lines()
        .skip_while(|l| !l.starts_with("HEALTHCHECK"))
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("ENTRYPOINT"))
        .collect();
    assert!(
        check.contains("/healthz") && !check.contains("/readyz"),
        "the Dockerfile's HEALTHCHECK: {check}"
    );
}
