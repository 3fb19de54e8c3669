use super::*;
use serde_json::json;

fn valid() -> Value {
    json!({
        "asset_id": "a1",
        "activity_name": "Purchase",
        "timestamp": "2021-12-29T12:06:28Z",
        "identity": "c1",
        "activity_source": "web",
        "activity_params": {"currency": "INR"},
    })
}

/// `None` removes the parameter.
type Edit = (&'static str, Option<Value>);

fn edited(edits: &[Edit]) -> Value {
    let mut activity = valid();
    let object = activity.as_object_mut().unwrap();
    for (key, value) in edits {
        match value {
            Some(v) => {
                object.insert(key.to_string(), v.clone());
            }
            None => {
                object.remove(*key);
            }
        }
    }
    activity
}

/// The problem a case expects: the parameter and whether it is "Missing".
type Expected = Option<(Parameter, bool)>;

fn missing(parameter: Parameter) -> Expected {
    Some((parameter, true))
}

fn invalid(parameter: Parameter) -> Expected {
    Some((parameter, false))
}

#[test]
fn parameter_rules_valid_and_invalid() {
    use Parameter::*;
    // (edits of a valid activity, the problem expected: parameter and whether "Missing")
    let cases: Vec<(Vec<Edit>, Expected)> = vec![
        (vec![], None),
        // activity_name
        (vec![("activity_name", None)], missing(ActivityName)),
        (
            vec![("activity_name", Some(json!(null)))],
            missing(ActivityName),
        ),
        (
            vec![("activity_name", Some(json!(" ")))],
            missing(ActivityName),
        ),
        (vec![("activity_name", Some(json!(5)))], None),
        (
            vec![("activity_name", Some(json!(1.5)))],
            invalid(ActivityName),
        ),
        (
            vec![("activity_name", Some(json!({"name": "x"})))],
            invalid(ActivityName),
        ),
        // asset_id (on the first activity)
        (vec![("asset_id", None)], missing(AssetId)),
        (vec![("asset_id", Some(json!("")))], missing(AssetId)),
        (vec![("asset_id", Some(json!(["a1"])))], invalid(AssetId)),
        (vec![("asset_id", Some(json!(123)))], None),
        // timestamp
        (vec![("timestamp", None)], missing(Timestamp)),
        (vec![("timestamp", Some(json!("")))], missing(Timestamp)),
        // Epoch numbers are times too (`time`), but not every number is one.
        (vec![("timestamp", Some(json!(1640779588)))], None),
        (vec![("timestamp", Some(json!(1640779588.5)))], None),
        (vec![("timestamp", Some(json!(-1)))], invalid(Timestamp)),
        (
            vec![("timestamp", Some(json!("2021-12-29T06:12:28+0530")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29")))],
            invalid(Timestamp),
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T06:12:28+05:30")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("2020-04-28T16:47:37")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T12:06:28.123Z")))],
            None,
        ),
        (
            vec![(
                "timestamp",
                Some(json!("2021-12-29T12:06:28.123456789-08:00")),
            )],
            None,
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29 12:06:28Z")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29")))],
            invalid(Timestamp),
        ),
        (vec![("timestamp", Some(json!("2021-12-29T12:06Z")))], None),
        (
            vec![("timestamp", Some(json!("2021-12-29T12:06:28+0530")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T12:06:28+05")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("2021-02-30T12:06:28Z")))],
            invalid(Timestamp),
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T24:00:00Z")))],
            invalid(Timestamp),
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T12:06:60Z")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T12:06:28+24:00")))],
            invalid(Timestamp),
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T12:06:28.Z")))],
            invalid(Timestamp),
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T12:06:28.1234567890Z")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T12:06:28z")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!(" 2021-12-29T12:06:28Z")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("+2021-12-29T12:06:28Z")))],
            invalid(Timestamp),
        ),
        (
            vec![("timestamp", Some(json!("2021-12-29T12:06:28Z ")))],
            None,
        ),
        (
            vec![("timestamp", Some(json!("yesterday")))],
            invalid(Timestamp),
        ),
        // identity / annonid
        (
            vec![("identity", None), ("annonid", Some(json!("anon-1")))],
            None,
        ),
        (vec![("annonid", Some(json!("anon-1")))], None),
        (vec![("identity", None)], missing(IdentityOrAnnonid)),
        (
            vec![("identity", Some(json!("")))],
            missing(IdentityOrAnnonid),
        ),
        (
            vec![
                ("identity", Some(json!(""))),
                ("annonid", Some(json!("anon-1"))),
            ],
            None,
        ),
        (vec![("identity", Some(json!(919876543210u64)))], None),
        (vec![("identity", Some(json!(1.5)))], invalid(Identity)),
        (vec![("identity", Some(json!(true)))], invalid(Identity)),
        (vec![("identity", Some(json!(["c1"])))], invalid(Identity)),
        (vec![("annonid", Some(json!({})))], invalid(Annonid)),
        (vec![("identity", None), ("annonid", Some(json!(77)))], None),
        // activity_source
        (vec![("activity_source", Some(json!("app")))], None),
        (vec![("activity_source", Some(json!("WEB")))], None),
        (
            vec![("activity_source", Some(json!("ios")))],
            invalid(ActivitySource),
        ),
        (
            vec![("activity_source", Some(json!(1)))],
            invalid(ActivitySource),
        ),
        (vec![("activity_source", None)], missing(ActivitySource)),
        (
            vec![("activity_source", Some(json!("")))],
            missing(ActivitySource),
        ),
        // activity_params
        (vec![("activity_params", None)], missing(ActivityParams)),
        (
            vec![("activity_params", Some(json!([])))],
            invalid(ActivityParams),
        ),
        (
            vec![("activity_params", Some(json!("x")))],
            invalid(ActivityParams),
        ),
        (vec![("activity_params", Some(json!({})))], None),
        (
            vec![("activity_params", Some(json!({"items": []})))],
            invalid(ActivityParams),
        ),
        (
            vec![("activity_params", Some(json!({"tags": []})))],
            invalid(ActivityParams),
        ),
        (
            vec![("activity_params", Some(json!({"items": [{"sku": 1}]})))],
            None,
        ),
        (
            vec![("activity_params", Some(json!({"cart": {"items": []}})))],
            None,
        ),
        // unknown parameters are ignored
        (
            vec![
                ("Activity_Name", Some(json!([]))),
                ("extra", Some(json!({}))),
            ],
            None,
        ),
    ];
    let count = cases.len();
    for (edits, want) in cases {
        let activity = edited(&edits);
        let result = validate(json!([activity.clone()]));
        match want {
            None => assert!(result.is_ok(), "{activity}: {result:?}"),
            Some((parameter, is_missing)) => {
                let error = result.expect_err(&format!("{activity} must be refused"));
                let problems = error.problems();
                assert_eq!(problems.len(), 1, "{activity}: {problems:?}");
                assert_eq!(problems[0].activity, 1);
                assert_eq!(problems[0].parameter, parameter, "{activity}");
                assert_eq!(
                    problems[0].kind == ProblemKind::Missing,
                    is_missing,
                    "{activity}"
                );
            }
        }
    }
    assert!(count >= 60, "{count}");
}

#[test]
fn timestamps_are_read_with_their_zone() {
    use crate::time::ClientTime;
    use chrono::{DateTime, NaiveDateTime};
    let at = |iso: &str| {
        ClientTime::Instant(
            DateTime::parse_from_rfc3339(iso)
                .unwrap()
                .timestamp_millis(),
        )
    };
    let local = |text: &str| {
        ClientTime::Local(NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").unwrap())
    };
    // (as sent, what it is read as)
    let cases = [
        ("2021-12-29T12:06:28Z", at("2021-12-29T12:06:28Z")),
        ("2021-12-29T06:12:28+05:30", at("2021-12-29T00:42:28Z")),
        ("2021-12-29T06:12:28-05:30", at("2021-12-29T11:42:28Z")),
        ("2021-12-29T06:12:28+0530", at("2021-12-29T00:42:28Z")),
        ("2016-12-31T23:59:60Z", at("2016-12-31T23:59:59.999Z")),
        ("2020-04-28T16:47:37", local("2020-04-28T16:47:37")),
        ("2020-04-28 16:47:37.5", local("2020-04-28T16:47:37.5")),
        (
            "2020-02-29T00:00:00.000001+00:00",
            at("2020-02-29T00:00:00Z"),
        ),
    ];
    for (raw, want) in cases {
        let mut activity = valid();
        activity["timestamp"] = json!(raw);
        let parsed = validate(json!([activity])).unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(parsed[0].timestamp, want, "{raw}");
        assert_eq!(parsed[0].timestamp_raw, raw);
    }
    let refused = |raw: Value| {
        let mut activity = valid();
        activity["timestamp"] = raw;
        validate(json!([activity])).unwrap_err().to_string()
    };
    let why = refused(json!("29/12/2021"));
    assert!(
        why.contains("2021-12-29T06:12:28Z") && why.contains("29/12/2021"),
        "{why}"
    );
    let long = refused(json!("x".repeat(10_000)));
    assert!(long.len() < 400, "{long}");
    assert!(refused(json!("2021-13-01T00:00:00Z")).contains("calendar date"));
    assert!(refused(json!("2021-12-٢9T00:00:00Z")).contains("must be a time"));
    assert!(refused(json!(true)).contains("got a boolean"));
}

#[test]
fn asset_id_is_required_on_the_first_activity_and_inherited_by_later_ones() {
    let no_asset = edited(&[("asset_id", None)]);
    let other_asset = edited(&[("asset_id", Some(json!("a2")))]);
    let list = json!([valid(), no_asset.clone(), other_asset, no_asset.clone()]);
    let activities = validate(list).unwrap();
    let got: Vec<_> = activities
        .iter()
        .map(|a| (a.asset_id.as_str(), a.asset_id_inherited))
        .collect();
    assert_eq!(
        got,
        vec![("a1", false), ("a1", true), ("a2", false), ("a1", true)]
    );
    // Without one on the first activity the request is refused, and only activity 1 is named.
    let error = validate(json!([no_asset.clone(), no_asset.clone(), valid()])).unwrap_err();
    assert_eq!(
        error
            .problems()
            .iter()
            .map(Problem::to_string)
            .collect::<Vec<_>>(),
        vec!["Missing Parameter - Asset ID (activity 1)"]
    );
    let error = validate(json!([
        edited(&[("asset_id", Some(json!(false)))]),
        no_asset
    ]))
    .unwrap_err();
    assert_eq!(error.problems().len(), 1);
    assert_eq!(error.problems()[0].parameter, Parameter::AssetId);
}

#[test]
fn sources_and_parameters() {
    assert_eq!(ActivitySource::parse(" App "), Some(ActivitySource::App));
    assert_eq!(ActivitySource::parse("mobile"), None);
    assert_eq!(ActivitySource::Web.as_str(), "web");
    assert_eq!(Parameter::ActivityName.key(), "activity_name");
    assert_eq!(Parameter::AssetId.label(), "Asset ID");
}
