//! The batching DynamoDB writer against DynamoDB Local: many concurrent puts (some to the
//! same key) all land, and a write that cannot land is reported to its caller.

use aws_sdk_dynamodb::types::AttributeValue;
use faro_backend::dynamo::writer::{Item, WriteError, Writer};
use faro_testkit::TestApp;
use std::{collections::HashMap, sync::Arc};

fn item(pk: &str, sk: usize, value: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S(format!("N#{sk:04}"))),
        ("value".to_owned(), AttributeValue::S(value.to_owned())),
    ])
}

/// Puts `value` under `pk` and each of `keys` at once, each from a task of its own; the
/// tasks' outcomes in the order of `keys`.
async fn put_all(
    writer: &Writer,
    pk: &'static str,
    keys: impl Iterator<Item = usize>,
    value: &'static str,
) -> Vec<Result<(), WriteError>> {
    let puts: Vec<_> = keys
        .map(|n| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.put(item(pk, n, value)).await })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(puts.len());
    for put in puts {
        outcomes.push(put.await.expect("task"));
    }
    outcomes
}

#[tokio::test]
async fn concurrent_puts_all_land_and_the_last_of_a_key_wins() {
    let app = TestApp::spawn().await;
    let writes = &app.state.writes;
    // 300 puts at once form batches; every fifth key is written twice, the second time
    // after the first resolved, so its final value is known.
    for outcome in put_all(writes, "WRITES", 0..300, "first").await {
        outcome.expect("stored");
    }
    for outcome in put_all(writes, "WRITES", (0..300).step_by(5), "second").await {
        outcome.expect("stored");
    }

    let mut values = Vec::new();
    let mut start = None;
    loop {
        let page = app
            .state
            .dynamo
            .query()
            .table_name(&*app.state.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S("WRITES".into()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("query");
        values.extend(page.items().iter().map(|i| {
            i.get("value")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        }));
        start = page.last_evaluated_key().map(|k| k.to_owned());
        if start.is_none() {
            break;
        }
    }
    assert_eq!(values.len(), 300);
    for (n, value) in values.iter().enumerate() {
        let expected = if n % 5 == 0 { "second" } else { "first" };
        assert_eq!(value, expected, "item {n}");
    }
}

#[tokio::test]
async fn a_put_that_cannot_land_fails_its_caller() {
    let app = TestApp::spawn().await;
    let writer = Writer::start(app.state.dynamo.clone(), Arc::from("no_such_table_here"));
    for outcome in put_all(&writer, "LOST", 0..40, "x").await {
        match outcome {
            Err(WriteError::Store(detail)) => {
                assert!(detail.contains("ResourceNotFound"), "{detail}")
            }
            other => panic!("expected a store error, got {other:?}"),
        }
    }
}
