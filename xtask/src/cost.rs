//! `cargo xtask cost --env <name>`: the monthly cost of an environment, line by line, from its
//! parameter file (`infra/env/<name>.json`: sizes and usage assumptions), the templates (how
//! many alarms, keys, secrets) and the price table `infra/pricing.json`.

use std::collections::BTreeMap;
use std::path::Path;

use faro_infra_model::{EnvFile, read_json};
use serde::Deserialize;
use serde_json::Value;

use crate::infra;
use crate::workspace::Workspace;
use crate::{ArgError, Flags, Hint};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub env: String,
}

pub fn parse(args: &[String]) -> Result<Options, ArgError> {
    let mut env = None;
    let mut flags = Flags::new("cost", args);
    while let Some((flag, inline)) = flags.next_flag()? {
        match flag {
            "--env" => env = Some(flags.value(flag, inline)?.to_string()),
            _ => return Err(flags.unknown(flag)),
        }
    }
    env.map(|env| Options { env })
        .ok_or_else(|| ArgError::MissingValue {
            flag: "--env".into(),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Infra(#[from] faro_infra_model::Error),
    #[error("{0}")]
    Model(String),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Infra(e) => e.hint(),
            Self::Model(_) => Some("fix infra/pricing.json or the environment's file".into()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct FargatePrice {
    pub per_vcpu_hour: f64,
    pub per_gb_hour: f64,
}

/// `infra/pricing.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Pricing {
    pub region: String,
    pub currency: String,
    pub as_of: String,
    pub hours_per_month: f64,
    pub nat_gateway_per_hour: f64,
    pub nat_gateway_per_gb: f64,
    pub public_ipv4_per_hour: f64,
    pub internet_egress_free_gb: f64,
    pub internet_egress_per_gb: f64,
    pub alb_per_hour: f64,
    pub alb_per_lcu_hour: f64,
    pub fargate: BTreeMap<String, FargatePrice>,
    pub fargate_spot_discount: f64,
    pub rds_mysql_single_az_per_hour: BTreeMap<String, f64>,
    pub rds_multi_az_factor: f64,
    pub rds_gp3_single_az_per_gb_month: f64,
    pub rds_backup_per_gb_month: f64,
    pub rds_reserved_1y_no_upfront_discount: f64,
    pub dynamodb_on_demand_per_million_reads: f64,
    pub dynamodb_on_demand_per_million_writes: f64,
    pub dynamodb_storage_per_gb_month: f64,
    pub dynamodb_pitr_per_gb_month: f64,
    pub amplify_build_per_minute: f64,
    pub amplify_served_per_gb: f64,
    pub amplify_stored_per_gb_month: f64,
    pub route53_zone_per_month: f64,
    pub route53_per_million_queries: f64,
    pub logs_ingest_per_gb: f64,
    pub logs_storage_per_gb_month: f64,
    pub logs_stored_fraction: f64,
    pub metric_per_month: f64,
    pub alarm_metric_per_month: f64,
    pub dashboard_per_month: f64,
    pub secret_per_month: f64,
    pub ecr_storage_per_gb_month: f64,
    pub kms_key_per_month: f64,
    pub s3_standard_per_gb_month: f64,
    pub interface_endpoint_per_az_hour: f64,
    pub waf_web_acl_per_month: f64,
    pub waf_rule_per_month: f64,
    pub waf_per_million_requests: f64,
    /// Logs that AWS services deliver for us (VPC flow logs): their own, tiered price.
    pub logs_vended_ingest_per_gb: f64,
    pub budget_per_day: f64,
    pub budgets_free_per_account: f64,
}

/// What the templates decide, counted once from them.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateCounts {
    /// Metrics watched by alarms (a metric-math alarm counts each metric it reads).
    pub alarm_metrics: u32,
    pub dashboards: u32,
    pub kms_keys: u32,
    /// Secrets created by the templates, plus the RDS-managed master secret.
    pub secrets: u32,
    /// Public IPv4 addresses of the load balancer (one per subnet, i.e. per zone).
    pub load_balancer_addresses: u32,
    pub web_acls: u32,
    /// Rules of the web ACLs (a managed rule group is one rule).
    pub waf_rules: u32,
    pub budgets: u32,
    pub event_rules: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub group: &'static str,
    pub item: String,
    pub detail: String,
    pub monthly: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub env: String,
    pub lines: Vec<Line>,
}

impl Estimate {
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|l| l.monthly).sum()
    }
}

fn resources<'a>(template: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    template["Resources"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter(move |r| r["Type"] == kind)
}

pub fn count_templates(templates: &[Value]) -> TemplateCounts {
    let count = |kind: &str| -> u32 {
        templates
            .iter()
            .map(|t| resources(t, kind).count() as u32)
            .sum()
    };
    let alarm_metrics = templates
        .iter()
        .flat_map(|t| resources(t, "AWS::CloudWatch::Alarm"))
        .map(|alarm| match alarm["Properties"]["Metrics"].as_array() {
            Some(metrics) => metrics
                .iter()
                .filter(|m| m.get("MetricStat").is_some())
                .count() as u32,
            None => 1,
        })
        .sum();
    let rds_managed = templates
        .iter()
        .flat_map(|t| resources(t, "AWS::RDS::DBInstance"))
        .filter(|db| db["Properties"]["ManageMasterUserPassword"] == true)
        .count() as u32;
    TemplateCounts {
        alarm_metrics,
        dashboards: count("AWS::CloudWatch::Dashboard"),
        kms_keys: count("AWS::KMS::Key"),
        secrets: count("AWS::SecretsManager::Secret") + rds_managed,
        // The load balancer's subnets come from the network stack's two public subnets.
        load_balancer_addresses: count("AWS::ElasticLoadBalancingV2::LoadBalancer") * 2,
        web_acls: count("AWS::WAFv2::WebACL"),
        waf_rules: templates
            .iter()
            .flat_map(|t| resources(t, "AWS::WAFv2::WebACL"))
            .map(|acl| acl["Properties"]["Rules"].as_array().map_or(0, Vec::len) as u32)
            .sum(),
        budgets: count("AWS::Budgets::Budget"),
        event_rules: count("AWS::Events::Rule"),
    }
}

/// A parameter of `stack` in the env file (the estimate reads sizes only from there).
fn param<T: std::str::FromStr>(env: &EnvFile, stack: &str, name: &str) -> Result<T, Error> {
    env.parameters
        .get(stack)
        .and_then(|p| p.get(name))
        .ok_or_else(|| {
            Error::Model(format!(
                "env/{}.json sets no {stack}/{name}",
                env.environment
            ))
        })?
        .parse()
        .map_err(|_| {
            Error::Model(format!(
                "env/{}.json: {stack}/{name} is not a number",
                env.environment
            ))
        })
}

fn usage(env: &EnvFile, name: &str) -> Result<f64, Error> {
    env.usage
        .get(name)
        .copied()
        .ok_or_else(|| Error::Model(format!("env/{}.json has no usage.{name}", env.environment)))
}

/// `quantity` at `price` each: the line's detail (`"{quantity}{unit} x {price}{per}"`) and cost.
fn priced(quantity: f64, unit: &str, price: f64, per: &str) -> (String, f64) {
    (
        format!("{quantity}{unit} x {}{per}", money(price)),
        quantity * price,
    )
}

/// Logs ingested at `ingest_price` and kept `days`, compressed to `logs_stored_fraction`.
fn kept_logs(gb: f64, ingest_price: f64, days: f64, p: &Pricing) -> (String, f64) {
    let stored = gb * days / 30.0 * p.logs_stored_fraction;
    (
        format!(
            "{gb} GB x {}/GB, {stored:.2} GB kept ({days} days)",
            money(ingest_price)
        ),
        gb * ingest_price + stored * p.logs_storage_per_gb_month,
    )
}

fn money(x: f64) -> String {
    if x >= 1.0 || x == 0.0 {
        format!("${x:.2}")
    } else {
        format!("${x}")
    }
}

/// The monthly estimate of `env`.
pub fn estimate(env: &EnvFile, counts: &TemplateCounts, p: &Pricing) -> Result<Estimate, Error> {
    if env.region != p.region {
        return Err(Error::Model(format!(
            "env/{}.json deploys to {} but infra/pricing.json has {} prices",
            env.environment, env.region, p.region
        )));
    }
    let h = p.hours_per_month;
    let mut lines = Vec::new();
    let mut add = |group: &'static str, item: &str, (detail, monthly): (String, f64)| {
        lines.push(Line {
            group,
            item: item.to_string(),
            detail,
            monthly,
        });
    };

    // network
    let single_nat: String = param(env, "network", "SingleNatGateway")?;
    let nats = if env.environment == "production" || single_nat == "false" {
        2.0
    } else {
        1.0
    };
    add(
        "network",
        "NAT gateways",
        (
            format!("{nats} x {h} h x {}/h", money(p.nat_gateway_per_hour)),
            nats * h * p.nat_gateway_per_hour,
        ),
    );
    let nat_gb = usage(env, "nat_processed_gb_per_month")?;
    add(
        "network",
        "NAT data processed",
        priced(nat_gb, " GB", p.nat_gateway_per_gb, "/GB"),
    );
    let addresses = nats + f64::from(counts.load_balancer_addresses);
    add(
        "network",
        "public IPv4 addresses",
        (
            format!(
                "{addresses} (NAT + load balancer) x {h} h x {}/h",
                money(p.public_ipv4_per_hour)
            ),
            addresses * h * p.public_ipv4_per_hour,
        ),
    );
    let egress = usage(env, "internet_egress_gb_per_month")?;
    let billed = (egress - p.internet_egress_free_gb).max(0.0);
    add(
        "network",
        "data transfer out",
        (
            format!("{egress} GB, first {} GB free", p.internet_egress_free_gb),
            billed * p.internet_egress_per_gb,
        ),
    );

    // load balancer: LCUs are the largest of the dimensions, per hour
    add(
        "load balancer",
        "ALB hours",
        priced(h, " h", p.alb_per_hour, "/h"),
    );
    let lcu = (usage(env, "alb_processed_gb_per_month")? / h)
        .max(usage(env, "alb_new_connections_per_second")? / 25.0)
        .max(usage(env, "alb_active_connections")? / 3000.0);
    add(
        "load balancer",
        "ALB LCUs",
        (
            format!("{lcu:.3} LCU x {h} h x {}/LCU-h", money(p.alb_per_lcu_hour)),
            lcu * h * p.alb_per_lcu_hour,
        ),
    );
    let log_gb = usage(env, "alb_access_log_gb_per_month")?;
    let log_days: f64 = param(env, "service", "AccessLogRetentionDays")?;
    let stored = log_gb * log_days / 30.0;
    add(
        "load balancer",
        "access logs in S3",
        (
            format!(
                "{stored:.1} GB kept ({log_days} days) x {}/GB",
                money(p.s3_standard_per_gb_month)
            ),
            stored * p.s3_standard_per_gb_month,
        ),
    );
    let acls = f64::from(counts.web_acls);
    let rules = f64::from(counts.waf_rules);
    add(
        "load balancer",
        "WAF web ACL and rules",
        (
            format!(
                "{acls} x {} + {rules} rules x {}",
                money(p.waf_web_acl_per_month),
                money(p.waf_rule_per_month)
            ),
            acls * p.waf_web_acl_per_month + rules * p.waf_rule_per_month,
        ),
    );
    let requests = if counts.web_acls > 0 {
        usage(env, "requests_per_month_millions")?
    } else {
        0.0
    };
    add(
        "load balancer",
        "WAF requests",
        priced(requests, " M", p.waf_per_million_requests, "/M"),
    );

    // compute
    let arch: String = param(env, "service", "CpuArchitecture")?;
    let price = p
        .fargate
        .get(&arch)
        .ok_or_else(|| Error::Model(format!("no Fargate price for {arch}")))?;
    let tasks =
        f64::from(param::<u32>(env, "service", "MinTasks")?) + usage(env, "average_extra_tasks")?;
    let vcpu = f64::from(param::<u32>(env, "service", "TaskCpu")?) / 1024.0;
    let gb = f64::from(param::<u32>(env, "service", "TaskMemory")?) / 1024.0;
    add(
        "compute",
        &format!("Fargate vCPU ({arch})"),
        (
            format!(
                "{tasks} tasks x {vcpu} vCPU x {h} h x {}/vCPU-h",
                money(price.per_vcpu_hour)
            ),
            tasks * vcpu * h * price.per_vcpu_hour,
        ),
    );
    add(
        "compute",
        &format!("Fargate memory ({arch})"),
        (
            format!(
                "{tasks} tasks x {gb} GB x {h} h x {}/GB-h",
                money(price.per_gb_hour)
            ),
            tasks * gb * h * price.per_gb_hour,
        ),
    );

    // MySQL (Multi-AZ doubles instance and storage)
    let class: String = param(env, "data", "DbInstanceClass")?;
    let hourly = *p.rds_mysql_single_az_per_hour.get(&class).ok_or_else(|| {
        Error::Model(format!(
            "no price for {class} in infra/pricing.json (known: {})",
            p.rds_mysql_single_az_per_hour
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let f = p.rds_multi_az_factor;
    add(
        "database",
        &format!("RDS MySQL {class} Multi-AZ"),
        (format!("{h} h x {}/h x {f}", money(hourly)), h * hourly * f),
    );
    let storage: f64 = param(env, "data", "DbAllocatedStorage")?;
    add(
        "database",
        "RDS gp3 storage Multi-AZ",
        (
            format!(
                "{storage} GB x {}/GB x {f}",
                money(p.rds_gp3_single_az_per_gb_month)
            ),
            storage * p.rds_gp3_single_az_per_gb_month * f,
        ),
    );
    let backup = usage(env, "rds_backup_gb_beyond_free")?;
    add(
        "database",
        "RDS backups",
        (
            format!("{backup} GB beyond the free size of the storage"),
            backup * p.rds_backup_per_gb_month,
        ),
    );

    // DynamoDB on demand
    let reads = usage(env, "dynamodb_read_millions")?;
    let writes = usage(env, "dynamodb_write_millions")?;
    let table_gb = usage(env, "dynamodb_storage_gb")?;
    add(
        "dynamodb",
        "reads (on demand)",
        priced(reads, " M", p.dynamodb_on_demand_per_million_reads, "/M"),
    );
    add(
        "dynamodb",
        "writes (on demand)",
        priced(writes, " M", p.dynamodb_on_demand_per_million_writes, "/M"),
    );
    add(
        "dynamodb",
        "storage + PITR",
        (
            format!(
                "{table_gb} GB x ({} + {})/GB",
                money(p.dynamodb_storage_per_gb_month),
                money(p.dynamodb_pitr_per_gb_month)
            ),
            table_gb * (p.dynamodb_storage_per_gb_month + p.dynamodb_pitr_per_gb_month),
        ),
    );

    // frontend
    let minutes = usage(env, "amplify_build_minutes")?;
    let served = usage(env, "amplify_served_gb")?;
    let kept = usage(env, "amplify_stored_gb")?;
    add(
        "frontend",
        "Amplify builds",
        priced(minutes, " min", p.amplify_build_per_minute, "/min"),
    );
    add(
        "frontend",
        "Amplify hosting",
        (
            format!(
                "{served} GB served x {}/GB + {kept} GB stored",
                money(p.amplify_served_per_gb)
            ),
            served * p.amplify_served_per_gb + kept * p.amplify_stored_per_gb_month,
        ),
    );

    // DNS (alias queries to the load balancer are free)
    let zones = usage(env, "hosted_zones")?;
    let queries = usage(env, "dns_queries_millions")?;
    add(
        "dns",
        "Route 53",
        (
            format!(
                "{zones} zone x {} + {queries} M queries x {}/M",
                money(p.route53_zone_per_month),
                money(p.route53_per_million_queries)
            ),
            zones * p.route53_zone_per_month + queries * p.route53_per_million_queries,
        ),
    );

    // CloudWatch
    let ingest = usage(env, "log_ingest_gb_per_month")?;
    let days: f64 = param(env, "service", "LogRetentionDays")?;
    let log_stored = ingest * days / 30.0 * p.logs_stored_fraction;
    add(
        "observability",
        "logs ingested",
        priced(ingest, " GB", p.logs_ingest_per_gb, "/GB"),
    );
    add(
        "observability",
        "logs stored",
        (
            format!(
                "{log_stored:.2} GB compressed ({days} days) x {}/GB",
                money(p.logs_storage_per_gb_month)
            ),
            log_stored * p.logs_storage_per_gb_month,
        ),
    );
    // Logs that AWS services write for us: (line, usage, retention parameter, ingestion price).
    for (item, gb, (stack, retention), price) in [
        (
            "VPC flow logs",
            "flow_log_gb_per_month",
            ("network", "FlowLogRetentionDays"),
            p.logs_vended_ingest_per_gb,
        ),
        (
            "MySQL error + slow-query logs",
            "rds_log_gb_per_month",
            ("data", "DbLogRetentionDays"),
            p.logs_ingest_per_gb,
        ),
    ] {
        let days: f64 = param(env, stack, retention)?;
        add(
            "observability",
            item,
            kept_logs(usage(env, gb)?, price, days, p),
        );
    }
    let metrics = usage(env, "container_insights_metrics")? + usage(env, "custom_metrics")?;
    add(
        "observability",
        "metrics (Container Insights + EMF)",
        priced(metrics, "", p.metric_per_month, ""),
    );
    let alarms = f64::from(counts.alarm_metrics);
    add(
        "observability",
        "alarms",
        priced(alarms, " alarm metrics", p.alarm_metric_per_month, ""),
    );
    let dashboards = f64::from(counts.dashboards);
    add(
        "observability",
        "dashboard",
        priced(
            dashboards,
            "",
            p.dashboard_per_month,
            " (the first 3 of an account are free)",
        ),
    );
    let event_rules = f64::from(counts.event_rules);
    add(
        "observability",
        "EventBridge rules",
        (
            format!("{event_rules} rules on AWS service events (delivered free)"),
            0.0,
        ),
    );
    let budgets = f64::from(counts.budgets);
    add(
        "observability",
        "AWS Budgets",
        (
            format!(
                "{budgets} x 30.4 d x {}/d (the first {} of an account free)",
                money(p.budget_per_day),
                p.budgets_free_per_account
            ),
            budgets * 30.4 * p.budget_per_day,
        ),
    );

    // security and images
    let token: String = param(env, "frontend", "RepositoryTokenSecretName")?;
    let secrets = f64::from(counts.secrets) + if token.is_empty() { 0.0 } else { 1.0 };
    add(
        "other",
        "Secrets Manager",
        priced(secrets, " secrets", p.secret_per_month, ""),
    );
    let keys = f64::from(counts.kms_keys);
    add(
        "other",
        "KMS keys",
        priced(keys, " keys", p.kms_key_per_month, ""),
    );
    let images: f64 = param(env, "registry", "ImagesToKeep")?;
    let image_gb = images * usage(env, "image_size_mb")? / 1024.0;
    add(
        "other",
        "ECR storage",
        (
            format!(
                "{images} images, {image_gb:.2} GB x {}/GB",
                money(p.ecr_storage_per_gb_month)
            ),
            image_gb * p.ecr_storage_per_gb_month,
        ),
    );

    Ok(Estimate {
        env: env.environment.clone(),
        lines,
    })
}

/// What a change would save or cost, from the same model: (description, monthly delta).
pub fn trade_offs(
    env: &EnvFile,
    counts: &TemplateCounts,
    p: &Pricing,
) -> Result<Vec<(String, f64)>, Error> {
    let base = estimate(env, counts, p)?.total();
    let with = |stack: &str, name: &str, value: &str| -> Result<f64, Error> {
        let mut changed = env.clone();
        changed
            .parameters
            .entry(stack.to_string())
            .or_default()
            .insert(name.to_string(), value.to_string());
        Ok(estimate(&changed, counts, p)?.total() - base)
    };
    let sum_of = |e: &EnvFile, item: &str| -> Result<f64, Error> {
        Ok(estimate(e, counts, p)?
            .lines
            .iter()
            .filter(|l| l.item.starts_with(item))
            .map(|l| l.monthly)
            .sum())
    };
    let mut out = Vec::new();
    let arch: String = param(env, "service", "CpuArchitecture")?;
    let other = if arch == "ARM64" { "X86_64" } else { "ARM64" };
    out.push((
        format!("{other} tasks instead of {arch}"),
        with("service", "CpuArchitecture", other)?,
    ));
    if env.environment != "production" {
        let single: String = param(env, "network", "SingleNatGateway")?;
        let flipped = if single == "true" { "false" } else { "true" };
        out.push((
            format!("SingleNatGateway={flipped}"),
            with("network", "SingleNatGateway", flipped)?,
        ));
    }
    let mut x86 = env.clone();
    x86.parameters
        .entry("service".into())
        .or_default()
        .insert("CpuArchitecture".into(), "X86_64".into());
    out.push((
        "Fargate Spot (X86_64 tasks only) instead of on-demand".into(),
        sum_of(&x86, "Fargate")? * (1.0 - p.fargate_spot_discount) - sum_of(env, "Fargate")?,
    ));
    let rds = sum_of(env, "RDS MySQL")?;
    out.push((
        "RDS reserved instance, 1 year, no upfront".into(),
        -rds * p.rds_reserved_1y_no_upfront_discount,
    ));
    let azs = 2.0;
    out.push((
        "interface endpoints for ECR (api, dkr), Logs, Secrets Manager in 2 zones (saves only NAT processing)".into(),
        4.0 * azs * p.hours_per_month * p.interface_endpoint_per_az_hour,
    ));
    Ok(out)
}

pub fn pricing(infra: &Path) -> Result<Pricing, Error> {
    Ok(read_json(&infra.join("pricing.json"))?)
}

pub fn counts(infra_dir: &Path) -> Result<TemplateCounts, Error> {
    let manifest = faro_infra_model::Manifest::load(infra_dir)?;
    let templates = manifest
        .stacks
        .iter()
        .map(|s| infra::template(infra_dir, &s.template))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(count_templates(&templates))
}

pub fn render(estimate: &Estimate, trade_offs: &[(String, f64)], p: &Pricing) -> String {
    let mut out = format!(
        "Faro monthly cost estimate: {} ({}, {}, on-demand list prices as of {}, infra/pricing.json)\n\n",
        estimate.env, p.region, p.currency, p.as_of
    );
    let mut group = "";
    for line in &estimate.lines {
        let shown = if line.group == group { "" } else { line.group };
        group = line.group;
        out += &format!(
            "  {shown:<14} {:<34} {:<58} {:>9.2}\n",
            line.item, line.detail, line.monthly
        );
    }
    out += &format!(
        "  {:<14} {:<34} {:<58} {:>9.2}\n",
        "",
        "total per month",
        "",
        estimate.total()
    );
    out += "\nTrade-offs (monthly change, same usage):\n";
    for (what, delta) in trade_offs {
        out += &format!("  {what:<107} {delta:>+9.2}\n");
    }
    out
}

pub fn run(options: &Options) -> Result<(), Error> {
    let ws = Workspace::locate();
    let dir = infra::dir(&ws);
    let env = EnvFile::load(&dir, &options.env)?;
    let p = pricing(&dir)?;
    let counts = counts(&dir)?;
    let estimate = estimate(&env, &counts, &p)?;
    let trade_offs = trade_offs(&env, &counts, &p)?;
    print!("{}", render(&estimate, &trade_offs, &p));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (std::path::PathBuf, Pricing, TemplateCounts) {
        let dir = infra::dir(&Workspace::locate());
        let p = pricing(&dir).unwrap();
        let c = counts(&dir).unwrap();
        (dir, p, c)
    }

    #[test]
    fn counts_what_the_templates_create() {
        let (_, _, c) = repo();
        // 14 alarms, two of them metric math over 3 and 2 metrics.
        assert_eq!(c.alarm_metrics, 17);
        assert_eq!(c.dashboards, 1);
        assert_eq!(
            c.kms_keys, 4,
            "the backend's logs, the alarm topic, flow logs, MySQL's logs"
        );
        assert_eq!(
            c.secrets, 5,
            "DeepSeek, the key-encryption key, the RDS-managed secret and the two database users'"
        );
        assert_eq!(c.load_balancer_addresses, 2);
        assert_eq!(
            (c.web_acls, c.waf_rules),
            (1, 3),
            "common, known bad inputs, rate"
        );
        assert_eq!((c.budgets, c.event_rules), (1, 2));
    }

    #[test]
    fn waf_and_the_new_logs_are_priced() {
        let (dir, p, c) = repo();
        let production = EnvFile::load(&dir, "production").unwrap();
        let e = estimate(&production, &c, &p).unwrap();
        let item = |name: &str| e.lines.iter().find(|l| l.item == name).unwrap().monthly;
        assert!((item("WAF web ACL and rules") - (5.0 + 3.0 * 1.0)).abs() < 1e-9);
        // 3 M requests a month x $0.60/M.
        assert!((item("WAF requests") - 3.0 * 0.6).abs() < 1e-9);
        // 4 GB of flow logs at the vended price, 90 days at 15 % of their size.
        let stored = 4.0 * 90.0 / 30.0 * 0.15;
        assert!((item("VPC flow logs") - (4.0 * 0.5 + stored * 0.03)).abs() < 1e-9);
        assert!(item("MySQL error + slow-query logs") > 0.0);
        assert!((item("AWS Budgets") - 30.4 * 0.02).abs() < 1e-9);
        assert_eq!(item("EventBridge rules"), 0.0);
        // Without a web ACL there is nothing to pay per request.
        let none = TemplateCounts {
            web_acls: 0,
            waf_rules: 0,
            ..c
        };
        let e = estimate(&production, &none, &p).unwrap();
        let waf: f64 = e
            .lines
            .iter()
            .filter(|l| l.item.starts_with("WAF"))
            .map(|l| l.monthly)
            .sum();
        assert_eq!(waf, 0.0);
    }

    #[test]
    fn lines_follow_the_parameters() {
        let (dir, p, c) = repo();
        let staging = EnvFile::load(&dir, "staging").unwrap();
        let production = EnvFile::load(&dir, "production").unwrap();
        let s = estimate(&staging, &c, &p).unwrap();
        let item = |e: &Estimate, name: &str| {
            e.lines
                .iter()
                .find(|l| l.item.starts_with(name))
                .unwrap()
                .monthly
        };
        // One NAT gateway in staging (SingleNatGateway), two in production.
        assert!((item(&s, "NAT gateways") - 730.0 * 0.045).abs() < 1e-9);
        let prod = estimate(&production, &c, &p).unwrap();
        assert!((item(&prod, "NAT gateways") - 2.0 * 730.0 * 0.045).abs() < 1e-9);
        // Multi-AZ doubles the instance: db.t4g.micro 0.016/h.
        assert!((item(&s, "RDS MySQL") - 730.0 * 0.016 * 2.0).abs() < 1e-9);
        // 2 tasks x 0.25 vCPU on x86_64.
        assert!((item(&s, "Fargate vCPU") - 2.0 * 0.25 * 730.0 * 0.04048).abs() < 1e-9);
        let total: f64 = s.lines.iter().map(|l| l.monthly).sum();
        assert_eq!(s.total(), total);
        assert!(prod.total() > s.total());
    }

    #[test]
    fn single_nat_is_ignored_in_production() {
        let (dir, p, c) = repo();
        let mut production = EnvFile::load(&dir, "production").unwrap();
        let before = estimate(&production, &c, &p).unwrap().total();
        production
            .parameters
            .get_mut("network")
            .unwrap()
            .insert("SingleNatGateway".into(), "true".into());
        assert_eq!(estimate(&production, &c, &p).unwrap().total(), before);
    }

    #[test]
    fn graviton_is_cheaper_and_unknown_classes_are_named() {
        let (dir, p, c) = repo();
        let mut staging = EnvFile::load(&dir, "staging").unwrap();
        let offs = trade_offs(&staging, &c, &p).unwrap();
        let graviton = offs.iter().find(|(w, _)| w.starts_with("ARM64")).unwrap().1;
        assert!(graviton < 0.0, "Graviton costs less than x86: {graviton}");
        staging
            .parameters
            .get_mut("data")
            .unwrap()
            .insert("DbInstanceClass".into(), "db.z9.huge".into());
        let err = estimate(&staging, &c, &p).unwrap_err().to_string();
        assert!(
            err.contains("db.z9.huge") && err.contains("db.t4g.micro"),
            "{err}"
        );
    }

    #[test]
    fn unknown_environments_list_the_known_ones() {
        let (dir, ..) = repo();
        let err = EnvFile::load(&dir, "qa").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`qa`") && text.contains("production, staging"),
            "{text}"
        );
    }

    #[test]
    fn docs_show_the_same_totals() {
        let (dir, p, c) = repo();
        let doc = std::fs::read_to_string(dir.join("../docs/cost.md")).unwrap();
        for name in ["staging", "production"] {
            let env = EnvFile::load(&dir, name).unwrap();
            let total = format!("{:.2}", estimate(&env, &c, &p).unwrap().total());
            assert!(
                doc.contains(&total),
                "docs/cost.md must show the {name} total {total} (run `cargo xtask cost --env {name}`)"
            );
        }
    }

    #[test]
    fn parses_its_flags() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(parse(&args("--env staging")).unwrap().env, "staging");
        assert_eq!(parse(&args("--env=production")).unwrap().env, "production");
        assert!(matches!(
            parse(&args("")),
            Err(ArgError::MissingValue { .. })
        ));
        assert!(matches!(
            parse(&args("--region x")),
            Err(ArgError::UnknownFlag { .. })
        ));
    }
}
