//! CloudFormation YAML as JSON: the short-form tags (`!Ref`, `!Sub`, `!GetAtt`…) become their
//! long forms (`{"Ref": …}`, `{"Fn::Sub": …}`, `{"Fn::GetAtt": [resource, attribute]}`), so the
//! checks read one shape whatever the template author wrote. Also what a template says about
//! the other stacks and about deletion: the exports it imports and offers, and the resources it
//! keeps when its stack is deleted.

use std::collections::BTreeSet;

use saphyr::{LoadableYamlNode, Scalar, Yaml};
use serde_json::{Map, Number, Value};

/// Parses one CloudFormation template (a single YAML document).
pub fn parse_template(text: &str) -> Result<Value, String> {
    let docs = Yaml::load_from_str(text).map_err(|e| e.to_string())?;
    match docs.as_slice() {
        [doc] => to_json(doc),
        [] => Err("the file is empty".into()),
        _ => Err("a template is one YAML document, this file has several".into()),
    }
}

fn to_json(node: &Yaml<'_>) -> Result<Value, String> {
    Ok(match node {
        Yaml::Value(scalar) => scalar_to_json(scalar)?,
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match key {
                    Yaml::Value(Scalar::String(s)) => s.to_string(),
                    Yaml::Value(other) => scalar_to_json(other)?.to_string(),
                    other => return Err(format!("unsupported mapping key {other:?}")),
                };
                // Duplicate keys never get here (the parser keeps the last one); cfn-lint
                // reports them.
                map.insert(key, to_json(value)?);
            }
            Value::Object(map)
        }
        Yaml::Tagged(tag, inner) => {
            let name = tag.suffix.as_str();
            if tag.handle != "!" {
                return Err(format!("unsupported tag {}{name}", tag.handle));
            }
            let inner = to_json(inner)?;
            let (key, value) = match name {
                "Ref" | "Condition" => (name.to_string(), inner),
                "GetAtt" => {
                    let value = match inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((resource, attribute)) => Value::Array(vec![
                                Value::String(resource.into()),
                                Value::String(attribute.into()),
                            ]),
                            None => {
                                return Err(format!("!GetAtt {s}: expected Resource.Attribute"));
                            }
                        },
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), value)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut map = Map::new();
            map.insert(key, value);
            Value::Object(map)
        }
        Yaml::Representation(..) | Yaml::Alias(_) | Yaml::BadValue => {
            return Err(format!("unsupported YAML node {node:?}"));
        }
    })
}

/// The names of the exports `template` imports, as written (`faro-${EnvironmentName}-vpc-id`).
pub fn imports(template: &Value) -> BTreeSet<String> {
    let mut found = Vec::new();
    find_all(template, "Fn::ImportValue", &mut found);
    found.into_iter().filter_map(written_name).collect()
}

/// The names of the exports `template` offers, as written.
pub fn exports(template: &Value) -> BTreeSet<String> {
    template["Outputs"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, output)| written_name(output.get("Export")?.get("Name")?))
        .collect()
}

/// `"name"` or `{"Fn::Sub": "name"}`: the name as the template writes it.
fn written_name(value: &Value) -> Option<String> {
    value
        .as_str()
        .or_else(|| value.get("Fn::Sub")?.as_str())
        .map(str::to_owned)
}

/// Every value of `key` anywhere in `value` (e.g. every `Fn::ImportValue`).
pub fn find_all<'a>(value: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    out.push(v);
                }
                find_all(v, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| find_all(v, key, out)),
        _ => {}
    }
}

/// A resource that outlives the deletion of its stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retained {
    pub logical_id: String,
    pub resource_type: String,
    /// `Retain`, `RetainExceptOnCreate` or `Snapshot`.
    pub policy: String,
}

/// The resources whose `DeletionPolicy` keeps them (or a snapshot of them) after the stack is
/// deleted.
pub fn retained(template: &Value) -> Vec<Retained> {
    template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(id, resource)| {
            let policy = resource.get("DeletionPolicy")?.as_str()?;
            (policy != "Delete").then(|| Retained {
                logical_id: id.clone(),
                resource_type: resource["Type"].as_str().unwrap_or_default().to_string(),
                policy: policy.to_string(),
            })
        })
        .collect()
}

fn scalar_to_json(scalar: &Scalar<'_>) -> Result<Value, String> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner())
            .map(Value::Number)
            .ok_or_else(|| format!("{} is not a finite number", f.into_inner()))?,
        Scalar::String(s) => Value::String(s.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let template = parse_template(
            "A: !Ref X\n\
             B: !GetAtt Db.Endpoint.Address\n\
             C: !Sub \"faro-${Env}\"\n\
             D: !If [IsProd, !Ref AWS::NoValue, 3]\n\
             E: !ImportValue\n  Fn::Sub: \"faro-${Env}-vpc\"\n\
             F: !Select [0, !GetAZs \"\"]\n\
             G: \"true\"\n\
             H: 1.5\n",
        )
        .unwrap();
        assert_eq!(
            template,
            json!({
                "A": {"Ref": "X"},
                "B": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
                "C": {"Fn::Sub": "faro-${Env}"},
                "D": {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, 3]},
                "E": {"Fn::ImportValue": {"Fn::Sub": "faro-${Env}-vpc"}},
                "F": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
                "G": "true",
                "H": 1.5,
            })
        );
    }

    #[test]
    fn imports_exports_and_retained_resources_are_read_as_written() {
        let template = parse_template(
            "Resources:\n\
             \x20 Db:\n\
             \x20   Type: AWS::RDS::DBInstance\n\
             \x20   DeletionPolicy: Snapshot\n\
             \x20   Properties:\n\
             \x20     VpcId: !ImportValue\n\
             \x20       Fn::Sub: \"faro-${EnvironmentName}-vpc-id\"\n\
             \x20 Sg:\n\
             \x20   Type: AWS::EC2::SecurityGroup\n\
             \x20   DeletionPolicy: Delete\n\
             Outputs:\n\
             \x20 Endpoint:\n\
             \x20   Value: !GetAtt Db.Endpoint.Address\n\
             \x20   Export: { Name: !Sub \"faro-${EnvironmentName}-db\" }\n",
        )
        .unwrap();
        assert_eq!(
            imports(&template),
            BTreeSet::from(["faro-${EnvironmentName}-vpc-id".to_string()])
        );
        assert_eq!(
            exports(&template),
            BTreeSet::from(["faro-${EnvironmentName}-db".to_string()])
        );
        assert_eq!(
            retained(&template),
            [Retained {
                logical_id: "Db".into(),
                resource_type: "AWS::RDS::DBInstance".into(),
                policy: "Snapshot".into(),
            }]
        );
    }

    #[test]
    fn rejects_what_cloudformation_would() {
        assert!(parse_template("").is_err());
        assert!(parse_template("a: 1\n---\nb: 2\n").is_err());
        assert!(parse_template("A: !GetAtt Db\n").is_err());
        assert!(parse_template("a: [").is_err());
    }
}
