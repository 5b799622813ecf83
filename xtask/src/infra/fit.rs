//! The stacks fit together: imports, parameters, and the names the backend reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use faro_infra_model::template::find_all;
use faro_infra_model::{EnvFile, Manifest, env_names};
use serde_json::Value;

use super::template;
use crate::workspace::Workspace;

struct Infra {
    root: PathBuf,
    manifest: Manifest,
    /// Stack name → template, in deployment order.
    templates: Vec<(String, Value)>,
    envs: Vec<(String, EnvFile)>,
}

fn load() -> Infra {
    let ws = Workspace::locate();
    let infra = super::dir(&ws);
    let manifest = Manifest::load(&infra).unwrap();
    let templates = manifest
        .stacks
        .iter()
        .map(|s| (s.name.clone(), template(&infra, &s.template).unwrap()))
        .collect();
    let envs = env_names(&infra)
        .unwrap()
        .into_iter()
        .map(|name| {
            let file = EnvFile::load(&infra, &name).unwrap();
            (name, file)
        })
        .collect();
    Infra {
        root: ws.root,
        manifest,
        templates,
        envs,
    }
}

impl Infra {
    fn template(&self, stack: &str) -> &Value {
        &self.templates.iter().find(|(n, _)| n == stack).unwrap().1
    }

    /// The service's container.
    fn container(&self) -> &Value {
        self.container_of("TaskDefinition")
    }

    /// The one container of task definition `id` of the service stack.
    fn container_of(&self, id: &str) -> &Value {
        let task = &self.template("service")["Resources"][id];
        assert_eq!(task["Type"], "AWS::ECS::TaskDefinition", "{id}");
        let containers = task["Properties"]["ContainerDefinitions"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1, "one container in {id}");
        &containers[0]
    }

    /// The exports whose secrets role `id` of the service stack may read.
    fn readable_secrets(&self, id: &str) -> BTreeSet<String> {
        let role = &self.template("service")["Resources"][id];
        let mut readable = Vec::new();
        for policy in role["Properties"]["Policies"].as_array().unwrap() {
            for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                if statement["Action"] == "secretsmanager:GetSecretValue" {
                    find_all(&statement["Resource"], "Fn::ImportValue", &mut readable);
                }
            }
        }
        readable.iter().map(|v| export_name(v, id)).collect()
    }
}

fn resources_of<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// `{"Fn::Sub": "faro-${EnvironmentName}-x"}` → `faro-{env}-x`; anything else is a test failure.
fn export_name(value: &Value, context: &str) -> String {
    let sub = value["Fn::Sub"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: export names are !Sub strings, got {value}"));
    assert!(
        sub.starts_with("faro-${EnvironmentName}-"),
        "{context}: `{sub}` must start with faro-${{EnvironmentName}}-"
    );
    let name = sub.replace("${EnvironmentName}", "{env}");
    assert!(
        !name.contains("${"),
        "{context}: `{sub}` may only use EnvironmentName"
    );
    name
}

#[test]
fn every_import_is_exported_by_an_earlier_stack() {
    let infra = load();
    let mut exported: BTreeMap<String, String> = BTreeMap::new();
    for (stack, template) in &infra.templates {
        let mut imports = Vec::new();
        find_all(template, "Fn::ImportValue", &mut imports);
        for import in imports {
            let name = export_name(import, &format!("{stack} imports"));
            assert!(
                exported.contains_key(&name),
                "stack {stack} imports {name}, which no stack before it exports \
                 (deployed before it: {:?})",
                exported.values().collect::<BTreeSet<_>>()
            );
        }
        for (output, value) in template["Outputs"].as_object().into_iter().flatten() {
            if let Some(name) = value.get("Export").map(|e| &e["Name"]) {
                let name = export_name(name, &format!("{stack} output {output}"));
                let previous = exported.insert(name.clone(), stack.clone());
                assert!(previous.is_none(), "{name} is exported twice");
            }
        }
    }
    assert!(exported.len() > 20, "the stacks export their outputs");
}

/// Checks `value` against the parameter's AllowedValues, AllowedPattern and Min/MaxValue.
fn validate_parameter(name: &str, spec: &Value, value: &str) -> Result<(), String> {
    if let Some(allowed) = spec["AllowedValues"].as_array() {
        let ok = allowed.iter().any(|a| match a {
            Value::String(s) => s == value,
            other => other
                .as_f64()
                .zip(value.parse::<f64>().ok())
                .is_some_and(|(a, b)| a == b),
        });
        if !ok {
            return Err(format!("{name}={value:?} is not one of {allowed:?}"));
        }
    }
    if let Some(pattern) = spec["AllowedPattern"].as_str() {
        let regex = regex_lite::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("{name}: AllowedPattern does not compile: {e}"))?;
        if !regex.is_match(value) {
            return Err(format!("{name}={value:?} does not match {pattern}"));
        }
    }
    if spec["Type"] == "Number" {
        let n: f64 = value
            .parse()
            .map_err(|_| format!("{name}={value:?} is not a number"))?;
        if spec["MinValue"].as_f64().is_some_and(|min| n < min) {
            return Err(format!(
                "{name}={value} is under MinValue {}",
                spec["MinValue"]
            ));
        }
        if spec["MaxValue"].as_f64().is_some_and(|max| n > max) {
            return Err(format!(
                "{name}={value} is over MaxValue {}",
                spec["MaxValue"]
            ));
        }
    }
    Ok(())
}

/// The value a stack will get for `name` in `env`: the env file's, else the default.
fn resolved(infra: &Infra, env: &EnvFile, stack: &str, name: &str) -> Option<String> {
    env.parameters
        .get(stack)
        .and_then(|p| p.get(name).cloned())
        .or_else(|| {
            infra.template(stack)["Parameters"][name]["Default"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    infra.template(stack)["Parameters"][name]
                        .get("Default")
                        .filter(|d| d.is_number())
                        .map(Value::to_string)
                })
        })
}

#[test]
fn env_files_give_every_stack_valid_and_complete_parameters() {
    let infra = load();
    assert!(
        infra.envs.iter().any(|(n, _)| n == "staging")
            && infra.envs.iter().any(|(n, _)| n == "production"),
        "staging and production have parameter files"
    );
    for (name, env) in &infra.envs {
        assert_eq!(
            &env.environment, name,
            "env/{name}.json names its environment"
        );
        let stacks: BTreeSet<&String> = infra.manifest.stacks.iter().map(|s| &s.name).collect();
        let given: BTreeSet<&String> = env.parameters.keys().collect();
        assert_eq!(
            given, stacks,
            "env/{name}.json has parameters for exactly the stacks"
        );
        for entry in &infra.manifest.stacks {
            let spec = &infra.template(&entry.name)["Parameters"];
            let values = &env.parameters[&entry.name];
            for (param, value) in values {
                assert!(
                    !entry.deploy_parameters.contains(param),
                    "env/{name}.json sets {}/{param}, which the deploy command supplies",
                    entry.name
                );
                let Some(param_spec) = spec.get(param) else {
                    panic!(
                        "env/{name}.json sets {}/{param}, which the template does not declare",
                        entry.name
                    );
                };
                if let Err(e) = validate_parameter(param, param_spec, value) {
                    panic!("env/{name}.json, stack {}: {e}", entry.name);
                }
            }
            for (param, param_spec) in spec.as_object().unwrap() {
                let has_value = values.contains_key(param)
                    || param_spec.get("Default").is_some()
                    || entry.deploy_parameters.contains(param);
                assert!(
                    has_value,
                    "env/{name}.json gives {}/{param} no value and it has no default",
                    entry.name
                );
            }
            assert_eq!(
                values.get("EnvironmentName"),
                Some(name),
                "env/{name}.json: {}/EnvironmentName",
                entry.name
            );
        }
        // A parameter of several stacks (domain, zone, IPv6, port) means one thing: one value.
        let mut seen: BTreeMap<&str, (String, &str)> = BTreeMap::new();
        for entry in &infra.manifest.stacks {
            for param in infra.template(&entry.name)["Parameters"]
                .as_object()
                .unwrap()
                .keys()
            {
                let Some(value) = resolved(&infra, env, &entry.name, param) else {
                    continue;
                };
                if let Some((first, first_stack)) = seen.get(param.as_str()) {
                    assert_eq!(
                        first, &value,
                        "env/{name}.json: {param} is {first} for {first_stack} but {value} for {}",
                        entry.name
                    );
                } else {
                    seen.insert(param, (value, &entry.name));
                }
            }
        }
    }
}

#[test]
fn production_keeps_a_nat_gateway_per_zone_and_two_tasks() {
    let infra = load();
    let (_, production) = infra.envs.iter().find(|(n, _)| n == "production").unwrap();
    assert_eq!(
        resolved(&infra, production, "network", "SingleNatGateway").as_deref(),
        Some("false")
    );
    let min: u32 = resolved(&infra, production, "service", "MinTasks")
        .unwrap()
        .parse()
        .unwrap();
    assert!(min >= 2);
}

/// Fargate's valid CPU/memory pairs (MiB).
fn fargate_memory_ok(cpu: u32, memory: u32) -> bool {
    match cpu {
        256 => [512, 1024, 2048].contains(&memory),
        512 => (1024..=4096).contains(&memory) && memory.is_multiple_of(1024),
        1024 => (2048..=8192).contains(&memory) && memory.is_multiple_of(1024),
        2048 => (4096..=16384).contains(&memory) && memory.is_multiple_of(1024),
        4096 => (8192..=30720).contains(&memory) && memory.is_multiple_of(1024),
        _ => false,
    }
}

#[test]
fn task_sizes_and_database_connections_fit() {
    let infra = load();
    for (name, env) in &infra.envs {
        let get = |stack: &str, p: &str| -> String { resolved(&infra, env, stack, p).unwrap() };
        let cpu: u32 = get("service", "TaskCpu").parse().unwrap();
        let memory: u32 = get("service", "TaskMemory").parse().unwrap();
        assert!(
            fargate_memory_ok(cpu, memory),
            "{name}: Fargate has no {cpu} CPU / {memory} MiB task"
        );
        // RDS MySQL's max_connections is DBInstanceClassMemory / 12582880; the memory RDS
        // counts is a little under the class's nominal size.
        let class = get("data", "DbInstanceClass");
        let gib = match class.rsplit('.').next().unwrap() {
            "micro" => 1.0,
            "small" => 2.0,
            "medium" => 4.0,
            "large" => 8.0,
            "xlarge" => 16.0,
            other => panic!("{name}: add the memory of a {other} instance to this test"),
        };
        let max_connections = gib * 0.9 * 1024.0 * 1024.0 * 1024.0 / 12_582_880.0;
        let pool: f64 = get("service", "DbMaxConnectionsPerTask").parse().unwrap();
        let tasks: f64 = get("service", "MaxTasks").parse().unwrap();
        // During a deployment up to twice the tasks run (maximum 200 %), plus the migration task.
        let needed = pool * (tasks * 2.0 + 1.0);
        assert!(
            needed <= max_connections,
            "{name}: {pool} connections x ({tasks} tasks x 2 + 1) = {needed} > about {max_connections:.0} on {class}"
        );
        let alarm: f64 = get("observability", "DbConnectionsAlarm").parse().unwrap();
        assert!(
            alarm < max_connections,
            "{name}: the connections alarm fires above the instance's maximum"
        );
    }
}

/// The environment variable names the backend reads, from their list (crates/config-vars).
fn backend_vars() -> BTreeSet<String> {
    faro_config_vars::ALL
        .iter()
        .map(|var| var.name.to_string())
        .collect()
}

#[test]
fn task_definition_gives_the_backend_what_it_reads() {
    let infra = load();
    let container = infra.container();
    let backend = backend_vars();
    assert!(
        backend.contains("FARO_DYNAMODB_TABLE") && backend.contains("FARO_ENV"),
        "{backend:?}"
    );

    let mut environment: BTreeMap<String, &Value> = BTreeMap::new();
    for pair in container["Environment"].as_array().unwrap() {
        let name = pair["Name"].as_str().unwrap().to_string();
        assert!(
            environment.insert(name.clone(), &pair["Value"]).is_none(),
            "{name} twice"
        );
    }
    let mut secrets: BTreeMap<String, &Value> = BTreeMap::new();
    for pair in container["Secrets"].as_array().unwrap() {
        let name = pair["Name"].as_str().unwrap().to_string();
        assert!(
            !environment.contains_key(&name),
            "{name} is both a variable and a secret"
        );
        assert!(
            secrets.insert(name.clone(), &pair["ValueFrom"]).is_none(),
            "{name} twice"
        );
    }

    // No typos: every name is one the backend reads.
    for name in environment.keys().chain(secrets.keys()) {
        assert!(
            backend.contains(name.as_str()),
            "the task definition sets {name}, which crates/config-vars does not list"
        );
    }

    let import = |value: &Value| {
        value["Fn::ImportValue"]["Fn::Sub"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(
        environment["FARO_ENV"], "production",
        "every deployed environment runs as production"
    );
    assert_eq!(
        environment["FARO_DATABASE_TLS"], "verify-identity",
        "MySQL's certificate is verified (against the RDS CAs the image ships)"
    );
    assert_eq!(
        environment["AWS_REGION"],
        &serde_json::json!({"Ref": "AWS::Region"})
    );
    assert_eq!(
        environment["FARO_PORT"],
        &serde_json::json!({"Ref": "AppPort"})
    );
    assert_eq!(
        import(environment["FARO_DYNAMODB_TABLE"]).as_deref(),
        Some("faro-${EnvironmentName}-table-name")
    );
    assert_eq!(
        environment["FARO_AUTO_MIGRATE"], "false",
        "migrations run as a one-off task"
    );
    assert_eq!(
        environment["FARO_CREATE_TABLE"], "false",
        "the data stack owns the table"
    );

    // `var` is the JSON key `key` of the secret exported as `faro-<env>-<export>`.
    let from_json_secret = |var: &str, export: &str, key: &str| {
        let join = secrets[var]["Fn::Join"][1].as_array().unwrap();
        assert_eq!(
            import(&join[0]),
            Some(format!("faro-${{EnvironmentName}}-{export}")),
            "{var} comes from that secret"
        );
        assert_eq!(
            join[1],
            format!(":{key}::"),
            "{var} is the secret's {key} key"
        );
    };

    // The database: its pieces, and the application user's secret, which the backend reads
    // itself (ECS would inject it once, and a rotation would lock new connections out).
    for piece in [
        "FARO_DATABASE_HOST",
        "FARO_DATABASE_PORT",
        "FARO_DATABASE_NAME",
    ] {
        assert!(environment.contains_key(piece), "{piece} is missing");
    }
    assert_eq!(
        import(environment["FARO_DATABASE_SECRET_ARN"]).as_deref(),
        Some("faro-${EnvironmentName}-db-app-secret-arn")
    );
    for piece in [
        "FARO_DATABASE_USER",
        "FARO_DATABASE_PASSWORD",
        "DATABASE_URL",
    ] {
        assert!(
            !secrets.contains_key(piece) && !environment.contains_key(piece),
            "{piece}: the credentials come from the secret, read by the backend"
        );
    }
    assert_eq!(
        infra.readable_secrets("TaskRole"),
        BTreeSet::from(["faro-{env}-db-app-secret-arn".to_string()]),
        "the task role reads the application user's secret, nothing else"
    );
    assert!(
        secrets.contains_key("FARO_DEEPSEEK_API_KEY"),
        "FARO_DEEPSEEK_API_KEY comes from Secrets Manager"
    );
    // Each organization sets its own SleakOps key in the app: the operator has none to give.
    assert!(
        !secrets.contains_key("FARO_SLEAKOPS_API_KEY")
            && !environment.contains_key("FARO_SLEAKOPS_API_KEY"),
        "the backend has no SleakOps key of its own"
    );
    // Both key-encryption keys come from the one generated secret, by its JSON keys.
    for (var, key) in [
        ("FARO_ENCRYPTION_KEY", "current"),
        ("FARO_ENCRYPTION_KEY_PREVIOUS", "previous"),
    ] {
        from_json_secret(var, "encryption-key-secret-arn", key);
    }
    let kek = &infra.template("data")["Resources"]["EncryptionKey"];
    let generated = &kek["Properties"]["GenerateSecretString"];
    assert_eq!(generated["GenerateStringKey"], "current");
    assert!(
        generated["SecretStringTemplate"]
            .as_str()
            .is_some_and(|t| t.contains(r#""previous": "none""#)),
        "{generated}"
    );
    assert!(
        generated["PasswordLength"].as_u64().unwrap() >= 43
            && generated["ExcludePunctuation"] == true,
        "a generated key the backend accepts: {generated}"
    );
    assert_eq!(
        kek["DeletionPolicy"], "Retain",
        "the database snapshot's keys open with it only"
    );

    // The execution role may read exactly the secrets the container gets.
    let mut secret_exports: BTreeSet<String> = secrets
        .values()
        .map(|v| {
            let mut imports = Vec::new();
            find_all(v, "Fn::ImportValue", &mut imports);
            export_name(imports[0], "a secret")
        })
        .collect();
    assert_eq!(
        infra.readable_secrets("ExecutionRole"),
        std::mem::take(&mut secret_exports),
        "execution role vs container secrets"
    );
}

#[test]
fn only_the_migration_task_reads_the_database_master_secret() {
    let infra = load();
    let container = infra.container_of("MigrationTaskDefinition");
    assert_eq!(
        container["Name"],
        infra.container()["Name"],
        "the deploy finds both by one name"
    );
    assert_eq!(container["Command"], serde_json::json!(["migrate"]));
    let environment: BTreeMap<&str, &Value> = container["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair["Name"].as_str().unwrap(), &pair["Value"]))
        .collect();
    let backend = backend_vars();
    for name in environment.keys() {
        assert!(
            backend.contains(*name),
            "the migration task sets {name}, which crates/config-vars does not list"
        );
    }
    let export = |var: &str| {
        let mut imports = Vec::new();
        find_all(environment[var], "Fn::ImportValue", &mut imports);
        export_name(imports[0], var)
    };
    assert_eq!(
        export("FARO_DATABASE_SECRET_ARN"),
        "faro-{env}-db-secret-arn",
        "it logs in as the master user"
    );
    assert_eq!(
        export("FARO_DATABASE_APP_SECRET_ARN"),
        "faro-{env}-db-app-secret-arn"
    );
    assert_eq!(
        export("FARO_DATABASE_MIGRATOR_SECRET_ARN"),
        "faro-{env}-db-migrator-secret-arn"
    );
    let task = &infra.template("service")["Resources"]["MigrationTaskDefinition"];
    assert_eq!(
        task["Properties"]["TaskRoleArn"],
        serde_json::json!({"Fn::GetAtt": ["MigrationTaskRole", "Arn"]})
    );
    assert_eq!(
        infra.readable_secrets("MigrationTaskRole"),
        BTreeSet::from(
            [
                "db-secret-arn",
                "db-app-secret-arn",
                "db-migrator-secret-arn"
            ]
            .map(|e| format!("faro-{{env}}-{e}"))
        )
    );
    for role in ["TaskRole", "ExecutionRole"] {
        assert!(
            !infra
                .readable_secrets(role)
                .contains("faro-{env}-db-secret-arn"),
            "{role} must not read the master secret"
        );
    }
}

#[test]
fn shutdown_fits_health_checks_and_the_stop_timeout() {
    let infra = load();
    let container = infra.container();
    let env = |name: &str| -> u64 {
        container["Environment"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["Name"] == name)
            .and_then(|p| p["Value"].as_str())
            .unwrap_or_else(|| panic!("{name} is set"))
            .parse()
            .unwrap()
    };
    let drain = env("FARO_SHUTDOWN_DRAIN_SECS");
    let grace = env("FARO_SHUTDOWN_GRACE_SECS");
    let stop_timeout = container["StopTimeout"].as_u64().unwrap();
    assert!(
        drain + grace < stop_timeout,
        "drain {drain} + grace {grace} must end before StopTimeout {stop_timeout}"
    );

    let target_group = &resources_of(
        infra.template("service"),
        "AWS::ElasticLoadBalancingV2::TargetGroup",
    )[0]
    .1["Properties"];
    assert_eq!(target_group["HealthCheckPath"], "/readyz");
    let interval = target_group["HealthCheckIntervalSeconds"].as_u64().unwrap();
    let unhealthy = target_group["UnhealthyThresholdCount"].as_u64().unwrap();
    assert!(
        interval * unhealthy <= drain,
        "the load balancer must see a draining task fail /readyz ({interval} s x {unhealthy}) within the drain ({drain} s)"
    );
    let delay: u64 = target_group["TargetGroupAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Key"] == "deregistration_delay.timeout_seconds")
        .and_then(|a| a["Value"].as_str())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (drain..=30).contains(&delay),
        "deregistration delay {delay} s: at least the drain, at most Fargate's 30 s stop window"
    );
    assert_eq!(container["HealthCheck"]["Command"][2], "healthcheck");
}

#[test]
fn table_matches_the_backend_key_schema() {
    let infra = load();
    let source = std::fs::read_to_string(infra.root.join("backend/src/dynamo/mod.rs")).unwrap();
    let constant = |name: &str| -> String {
        let re =
            regex_lite::Regex::new(&format!(r#"pub const {name}: &str = "([^"]+)";"#)).unwrap();
        re.captures(&source)
            .unwrap_or_else(|| panic!("dynamo/mod.rs defines {name}"))[1]
            .to_string()
    };
    let table = &resources_of(infra.template("data"), "AWS::DynamoDB::Table")[0].1["Properties"];
    let key = &table["KeySchema"];
    assert_eq!(key[0]["AttributeName"], constant("PK").as_str());
    assert_eq!(key[0]["KeyType"], "HASH");
    assert_eq!(key[1]["AttributeName"], constant("SK").as_str());
    assert_eq!(key[1]["KeyType"], "RANGE");
    for attribute in table["AttributeDefinitions"].as_array().unwrap() {
        assert_eq!(attribute["AttributeType"], "S", "{attribute}");
    }
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        constant("TTL_ATTRIBUTE").as_str()
    );
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
}

#[test]
fn dashboard_body_is_json() {
    let infra = load();
    let dashboard = &resources_of(
        infra.template("observability"),
        "AWS::CloudWatch::Dashboard",
    )[0]
    .1;
    let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"][0]
        .as_str()
        .unwrap();
    let placeholders = regex_lite::Regex::new(r"\$\{[^}]+\}").unwrap();
    let json: Value =
        serde_json::from_str(&placeholders.replace_all(body, "x")).expect("valid JSON");
    assert!(json["widgets"].as_array().unwrap().len() >= 10);
}

#[test]
fn validates_parameter_constraints() {
    let spec = serde_json::json!({"Type": "Number", "MinValue": 2, "MaxValue": 10});
    assert!(validate_parameter("N", &spec, "2").is_ok());
    assert!(validate_parameter("N", &spec, "1").is_err());
    assert!(validate_parameter("N", &spec, "11").is_err());
    assert!(validate_parameter("N", &spec, "two").is_err());
    let spec = serde_json::json!({"Type": "String", "AllowedValues": ["ARM64", "X86_64"]});
    assert!(validate_parameter("A", &spec, "ARM64").is_ok());
    assert!(validate_parameter("A", &spec, "arm64").is_err());
    let spec = serde_json::json!({"Type": "String", "AllowedPattern": "^[a-z]+$"});
    assert!(validate_parameter("P", &spec, "faro").is_ok());
    assert!(validate_parameter("P", &spec, "Faro").is_err());
}

#[test]
fn tiers_sit_in_their_subnets() {
    let infra = load();
    let subnets_of = |value: &Value| -> String {
        let mut imports = Vec::new();
        find_all(value, "Fn::ImportValue", &mut imports);
        assert_eq!(imports.len(), 1, "one subnet list in {value}");
        export_name(imports[0], "subnets")
    };
    let service = infra.template("service");
    let alb =
        &resources_of(service, "AWS::ElasticLoadBalancingV2::LoadBalancer")[0].1["Properties"];
    assert_eq!(alb["Scheme"], "internet-facing");
    assert_eq!(subnets_of(&alb["Subnets"]), "faro-{env}-public-subnet-ids");
    let ecs = &resources_of(service, "AWS::ECS::Service")[0].1["Properties"];
    let network = &ecs["NetworkConfiguration"]["AwsvpcConfiguration"];
    assert_eq!(
        subnets_of(&network["Subnets"]),
        "faro-{env}-private-subnet-ids"
    );
    assert_eq!(
        subnets_of(&network["SecurityGroups"]),
        "faro-{env}-service-sg"
    );
    let data = infra.template("data");
    let group = &resources_of(data, "AWS::RDS::DBSubnetGroup")[0].1["Properties"];
    assert_eq!(
        subnets_of(&group["SubnetIds"]),
        "faro-{env}-private-subnet-ids"
    );
    // The database admits the tasks' security group and nothing else.
    let db_group = &data["Resources"]["DatabaseSecurityGroup"]["Properties"];
    for rule in db_group["SecurityGroupIngress"].as_array().unwrap() {
        assert!(
            rule.get("CidrIp").is_none() && rule.get("CidrIpv6").is_none(),
            "{rule}"
        );
        assert_eq!(
            subnets_of(&rule["SourceSecurityGroupId"]),
            "faro-{env}-service-sg"
        );
    }
}

/// Each environment writes DNS records (api.<domain>, the certificates' validation records,
/// Amplify's app.<domain>) into a hosted zone of its own: staging's domain is a subdomain of
/// production's, and its zone is delegated from production's rather than shared with it
/// (docs/operations.md#dns-of-each-environment).
#[test]
fn environments_keep_their_records_in_zones_of_their_own() {
    let infra = load();
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for (name, env) in &infra.envs {
        let value = |stack: &str, param: &str| -> String {
            resolved(&infra, env, stack, param)
                .unwrap_or_else(|| panic!("env/{name}.json: {stack} has no {param}"))
        };
        let zone = value("dns", "HostedZoneId");
        assert_eq!(
            value("service", "HostedZoneId"),
            zone,
            "env/{name}.json: the service stack (certificate) and the dns stack use one zone"
        );
        let domain = value("dns", "DomainName");
        for stack in ["service", "frontend"] {
            assert_eq!(
                value(stack, "DomainName"),
                domain,
                "env/{name}.json: {stack} and dns serve one domain"
            );
        }
        if let Some(other) = owners.insert(zone.clone(), name.clone()) {
            panic!(
                "{other} and {name} write records into the same hosted zone {zone}: give {name} \
                 a zone of its own, delegated from the parent's (docs/operations.md#dns-of-each-environment)"
            );
        }
    }
    assert!(owners.len() >= 2, "staging and production: {owners:?}");
}

/// The longest environment name a template's `EnvironmentName` pattern (`^[a-z][a-z0-9-]{1,N}$`)
/// accepts.
fn longest_environment_name(pattern: &str) -> usize {
    let n = pattern
        .strip_prefix("^[a-z][a-z0-9-]{1,")
        .and_then(|rest| rest.strip_suffix("}$"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("EnvironmentName's pattern `{pattern}` bounds no length"));
    1 + n
}

/// The longest a name can be: a literal, or a `!Sub` of `EnvironmentName` alone.
fn longest_name(value: &Value, longest_env: usize) -> Result<usize, String> {
    match value {
        Value::String(s) => Ok(s.len()),
        Value::Object(map) => {
            let sub = map.get("Fn::Sub").and_then(Value::as_str).ok_or_else(|| {
                format!("{value}: only a literal or a !Sub string can be bounded")
            })?;
            let without = sub.replace("${EnvironmentName}", "");
            if without.contains("${") {
                return Err(format!("`{sub}`: only ${{EnvironmentName}} can be bounded"));
            }
            Ok(without.len() + longest_env * sub.matches("${EnvironmentName}").count())
        }
        _ => Err(format!("{value}: not a name")),
    }
}

/// Names that AWS bounds and that the templates build from the environment's name fit, for the
/// longest environment name the templates accept (a target group's faro-<env>-backend came to
/// 33 characters for a 20-character environment name, and the stack failed to create).
#[test]
fn names_built_from_the_environment_fit_their_limits() {
    let infra = load();
    let patterns: BTreeSet<&str> = infra
        .templates
        .iter()
        .map(|(stack, t)| {
            t["Parameters"]["EnvironmentName"]["AllowedPattern"]
                .as_str()
                .unwrap_or_else(|| panic!("{stack}: EnvironmentName has a pattern"))
        })
        .collect();
    assert_eq!(
        patterns.len(),
        1,
        "every stack accepts the same names: {patterns:?}"
    );
    let longest_env = longest_environment_name(patterns.first().unwrap());
    let limits = [
        ("AWS::ElasticLoadBalancingV2::TargetGroup", "Name", 32),
        ("AWS::ElasticLoadBalancingV2::LoadBalancer", "Name", 32),
        ("AWS::RDS::DBInstance", "DBInstanceIdentifier", 63),
        ("AWS::Events::Rule", "Name", 64),
        ("AWS::WAFv2::WebACL", "Name", 128),
        ("AWS::ECS::Cluster", "ClusterName", 255),
        ("AWS::SNS::Topic", "TopicName", 256),
    ];
    let mut checked = 0;
    for (stack, template) in &infra.templates {
        for (kind, property, limit) in limits {
            for (id, resource) in resources_of(template, kind) {
                let Some(name) = resource["Properties"].get(property) else {
                    continue;
                };
                let longest = longest_name(name, longest_env).unwrap();
                assert!(
                    longest <= limit,
                    "{stack}: {id}'s {property} reaches {longest} characters for a \
                     {longest_env}-character environment name; AWS allows {limit}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 7, "the named resources were found ({checked})");

    // The check itself: the name that broke, with the pattern it broke under.
    let target_group = serde_json::json!({"Fn::Sub": "faro-${EnvironmentName}-backend"});
    let before = longest_environment_name("^[a-z][a-z0-9-]{1,19}$");
    assert_eq!(longest_name(&target_group, before), Ok(33));
    assert!(longest_name(&serde_json::json!({"Fn::Sub": "${AWS::StackName}-tg"}), 19).is_err());
}
