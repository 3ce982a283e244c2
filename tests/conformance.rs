//! One conformance suite per backend trait, run against the local implementation and the
//! real service: the object store against moto and s3s-fs (which checks signatures and
//! checksums), the catalog against moto's Glue, the log against the tansu broker.

use serde_json::{Map, Value, json};

use runner::backend::glue::Glue;
use runner::backend::kafka::Kafka;
use runner::backend::local::Local;
use runner::backend::s3::S3;
use std::time::Duration;

use runner::backend::local::topic_files::partition_for;
use runner::backend::{Catalog, Log, ObjectStore, Partition, Record};
use runner::resource::Attrs;

use crate::services::{glue_client, s3_client, service, unique};

fn tags() -> Map<String, Value> {
    json!({"managed-by": "runner", "runner-pipeline": "conformance"})
        .as_object()
        .cloned()
        .expect("object")
}

/// Buckets: create with tags, read region and tags back, change tags, delete.
async fn bucket_suite(store: &dyn ObjectStore) {
    let bucket = unique("conf-bucket-");
    assert_eq!(store.bucket(&bucket).await.expect("head"), None);
    store
        .create_bucket(&bucket, "us-east-1", &tags())
        .await
        .expect("create bucket");
    let attrs = store.bucket(&bucket).await.expect("head").expect("exists");
    assert_eq!(attrs["region"], "us-east-1");
    assert_eq!(attrs["tags"]["managed-by"], "runner");
    let mut new_tags = tags();
    new_tags.insert("team".into(), json!("data"));
    store
        .set_bucket_tags(&bucket, &new_tags)
        .await
        .expect("tags");
    assert_eq!(
        store.bucket(&bucket).await.expect("head").expect("exists")["tags"]["team"],
        "data"
    );
    objects_suite(store, &bucket, 1005).await;
    store.delete_bucket(&bucket).await.expect("delete bucket");
    assert_eq!(store.bucket(&bucket).await.expect("head"), None);
}

/// Objects in an existing bucket: whole writes, conditional writes, paged listing, deletes.
/// Leaves the bucket empty.
async fn objects_suite(store: &dyn ObjectStore, bucket: &str, many: usize) {
    assert_eq!(
        store.get(bucket, "a/missing.json").await.expect("get"),
        None
    );
    store
        .put(bucket, "a/one.json", b"{\"n\":1}".to_vec())
        .await
        .expect("put");
    assert_eq!(
        store
            .get(bucket, "a/one.json")
            .await
            .expect("get")
            .as_deref(),
        Some(&b"{\"n\":1}"[..])
    );
    store
        .put(bucket, "a/one.json", b"replaced".to_vec())
        .await
        .expect("overwrite");
    assert_eq!(
        store
            .get(bucket, "a/one.json")
            .await
            .expect("get")
            .as_deref(),
        Some(&b"replaced"[..])
    );

    // A body in parts (an empty one among them, and one past a network buffer) is the
    // parts one after the other; s3s-fs checks its length and its CRC32 checksum.
    let large = vec![b'y'; 300_000];
    let parts = [&b"{\"n\":"[..], b"", &large, b"}\n"].map(bytes::Bytes::copy_from_slice);
    store
        .put_parts(bucket, "a/parts.json", parts.to_vec())
        .await
        .expect("put in parts");
    let got = store.get(bucket, "a/parts.json").await.expect("get");
    assert_eq!(got, Some(parts.concat()), "the parts in order");
    store.delete(bucket, "a/parts.json").await.expect("delete");

    assert!(
        store
            .put_if_absent(bucket, "lock", b"first".to_vec())
            .await
            .expect("conditional put")
    );
    assert!(
        !store
            .put_if_absent(bucket, "lock", b"second".to_vec())
            .await
            .expect("conditional put")
    );
    assert_eq!(
        store.get(bucket, "lock").await.expect("get").as_deref(),
        Some(&b"first"[..])
    );

    compare_and_swap_suite(store, bucket).await;
    streams_suite(store, bucket).await;

    for i in 0..many {
        store
            .put(bucket, &format!("many/{i:05}"), vec![b'x'; 3])
            .await
            .expect("put many");
    }
    let listed = store.list(bucket, "many/").await.expect("list");
    assert_eq!(listed.len(), many, "every key listed across pages");
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "sorted");
    assert_eq!(
        store.list(bucket, "a/").await.expect("list"),
        ["a/one.json"]
    );

    for key in store.list(bucket, "").await.expect("list") {
        store.delete(bucket, &key).await.expect("delete");
    }
    store
        .delete(bucket, "never-there")
        .await
        .expect("deleting a missing key is fine");
    assert!(store.list(bucket, "").await.expect("list").is_empty());
}

/// `state.json` and its version.
async fn versioned(store: &dyn ObjectStore, bucket: &str) -> (Vec<u8>, String) {
    store
        .get_versioned(bucket, "state.json")
        .await
        .expect("get")
        .expect("exists")
}

/// `put_if_version`: only the writer holding the current version replaces an object.
async fn compare_and_swap_suite(store: &dyn ObjectStore, bucket: &str) {
    let first = store
        .put_if_version(bucket, "state.json", b"one".to_vec(), None)
        .await
        .expect("create")
        .expect("created where there was no object");
    assert_eq!(
        store
            .put_if_version(bucket, "state.json", b"again".to_vec(), None)
            .await
            .expect("create again"),
        None,
        "creating over an existing object loses"
    );
    assert_eq!(
        versioned(store, bucket).await,
        (b"one".to_vec(), first.clone())
    );
    let second = store
        .put_if_version(bucket, "state.json", b"two".to_vec(), Some(&first))
        .await
        .expect("swap")
        .expect("the current version swaps");
    assert_ne!(first, second);
    assert_eq!(
        store
            .put_if_version(bucket, "state.json", b"stale".to_vec(), Some(&first))
            .await
            .expect("stale swap"),
        None,
        "a stale version loses"
    );
    assert_eq!(
        versioned(store, bucket).await,
        (b"two".to_vec(), second.clone())
    );
    assert_eq!(
        store.get_versioned(bucket, "none.json").await.expect("get"),
        None
    );
}

/// `head`, streamed `open`, and `put_file` of a file large enough for a multipart upload.
async fn streams_suite(store: &dyn ObjectStore, bucket: &str) {
    assert_eq!(store.head(bucket, "big/none").await.expect("head"), None);
    let missing = store
        .open(bucket, "big/none")
        .await
        .err()
        .expect("opening a missing object fails");
    assert!(missing.to_string().contains("no such object"), "{missing}");
    // Two whole parts and a short one; every byte differs from its neighbours' position.
    let size = 2 * runner::backend::s3::PART_SIZE as usize + 12_345;
    let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("big.bin");
    std::fs::write(&file, &body).expect("write");
    store
        .put_file(bucket, "big/object.bin", &file)
        .await
        .expect("put_file");
    let info = store
        .head(bucket, "big/object.bin")
        .await
        .expect("head")
        .expect("exists");
    assert_eq!(info.size, size as u64);
    assert!(!info.version.is_empty());
    let mut read = Vec::new();
    let mut stream = store.open(bucket, "big/object.bin").await.expect("open");
    tokio::task::spawn_blocking(move || {
        std::io::Read::read_to_end(&mut stream, &mut read).map(|_| read)
    })
    .await
    .expect("join")
    .map(|read| assert!(read == body, "the object reads back byte for byte"))
    .expect("read");
    assert!(
        !std::fs::read_dir(dir.path())
            .expect("dir")
            .any(|e| e.expect("entry").file_name() != "big.bin"),
        "nothing left beside the source file"
    );
    store
        .delete(bucket, "big/object.bin")
        .await
        .expect("delete");
}

fn table_attrs(location: &str) -> Attrs {
    serde_json::from_value(json!({
        "description": "conformance",
        "table_type": "EXTERNAL_TABLE",
        "columns": [{"name": "id", "type": "bigint"}, {"name": "at", "type": "timestamp"}],
        "partition_keys": [{"name": "year", "type": "int"}],
        "location": location,
        "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "serde": {
            "library": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            "parameters": {"serialization.format": "1"}
        },
        "parameters": {"classification": "parquet", "managed-by": "runner", "runner-pipeline": "conformance"}
    }))
    .expect("attrs")
}

async fn catalog_suite(catalog: &dyn Catalog) {
    let database = unique("conf_db_");
    assert_eq!(catalog.database(&database).await.expect("get"), None);
    let db_attrs: Attrs =
        serde_json::from_value(json!({"description": "d", "parameters": {"managed-by": "runner"}}))
            .expect("attrs");
    catalog
        .create_database(&database, &db_attrs)
        .await
        .expect("create database");
    let read = catalog
        .database(&database)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(read["description"], "d");
    assert_eq!(read["parameters"]["managed-by"], "runner");

    assert_eq!(catalog.table(&database, "t").await.expect("get"), None);
    let attrs = table_attrs("s3://b/t/");
    catalog
        .create_table(&database, "t", &attrs)
        .await
        .expect("create table");
    let read = catalog
        .table(&database, "t")
        .await
        .expect("get")
        .expect("exists");
    for key in [
        "columns",
        "partition_keys",
        "location",
        "input_format",
        "output_format",
        "serde",
        "table_type",
        "description",
    ] {
        assert_eq!(read[key], attrs[key], "{key} reads back as written");
    }
    assert_eq!(read["parameters"]["classification"], "parquet");

    let mut changed = attrs.clone();
    changed.insert("location".into(), json!("s3://b/moved/"));
    catalog
        .update_table(&database, "t", &changed)
        .await
        .expect("update");
    assert_eq!(
        catalog
            .table(&database, "t")
            .await
            .expect("get")
            .expect("exists")["location"],
        "s3://b/moved/"
    );
    let partitions = [
        Partition {
            values: vec!["2024".into()],
            location: "s3://b/moved/year=2024/".into(),
        },
        Partition {
            values: vec!["2023".into()],
            location: "s3://b/moved/year=2023/".into(),
        },
    ];
    catalog
        .add_partitions(&database, "t", &partitions)
        .await
        .expect("add partitions");
    catalog
        .add_partitions(&database, "t", &partitions[..1])
        .await
        .expect("adding again is fine");
    let registered = catalog
        .partitions(&database, "t")
        .await
        .expect("partitions");
    assert_eq!(registered, [partitions[1].clone(), partitions[0].clone()]);
    let listed: Vec<String> = catalog
        .tables(&database)
        .await
        .expect("tables")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(listed, ["t"]);
    catalog
        .delete_table(&database, "t")
        .await
        .expect("delete table");
    assert_eq!(catalog.table(&database, "t").await.expect("get"), None);
    catalog
        .delete_database(&database)
        .await
        .expect("delete database");
    assert_eq!(catalog.database(&database).await.expect("get"), None);
}

async fn log_suite(log: &dyn Log, can_add_partitions: bool) {
    let topic = unique("conf_topic_");
    assert_eq!(log.topic(&topic).await.expect("describe"), None);
    assert_eq!(
        log.partition_count(&topic).await.expect("partition count"),
        None
    );
    let config = json!({"retention.ms": "604800000"})
        .as_object()
        .cloned()
        .expect("object");
    log.create_topic(&topic, 3, 1, &config)
        .await
        .expect("create topic");
    let read = wait_for_topic(log, &topic).await;
    assert_eq!(read["partitions"], 3);
    assert_eq!(read["replication_factor"], 1);
    assert_eq!(read["config"]["retention.ms"], "604800000");
    assert_eq!(
        log.partition_count(&topic).await.expect("partition count"),
        Some(3)
    );

    let change = json!({"retention.ms": "3600000"})
        .as_object()
        .cloned()
        .expect("object");
    log.set_topic_config(&topic, &change)
        .await
        .expect("set config");
    let read = log.topic(&topic).await.expect("describe").expect("exists");
    assert_eq!(read["config"]["retention.ms"], "3600000");

    // Produce: acknowledged with partition and offset; one key, one partition (Kafka's
    // murmur2, the same on both implementations).
    let keys: Vec<String> = (0..12).map(|i| format!("offense-{}", i % 5)).collect();
    let values: Vec<String> = (0..12).map(|i| format!("{{\"n\":{i}}}")).collect();
    let records: Vec<Record> = (0..12)
        .map(|i| Record {
            key: (i < 10).then(|| keys[i].as_bytes()),
            value: values[i].as_bytes(),
        })
        .collect();
    let acked = log.produce(&topic, &records).await.expect("produce");
    assert_eq!(acked.len(), records.len());
    for (record, (partition, _)) in records.iter().zip(&acked) {
        if let Some(key) = &record.key {
            assert_eq!(
                *partition,
                partition_for(key, 3),
                "key {:?}",
                String::from_utf8_lossy(key)
            );
        }
    }
    let mut seen = Vec::new();
    for partition in 0..3 {
        let messages = log
            .fetch(&topic, partition, 0, 100, Duration::from_secs(3))
            .await
            .expect("fetch");
        let expected = acked.iter().filter(|(p, _)| *p == partition).count();
        assert_eq!(messages.len(), expected, "partition {partition}");
        // Where the partition ends: the offset its next record gets.
        assert_eq!(
            log.end_offset("conf-ends", &topic, partition)
                .await
                .expect("end offset"),
            expected as u64,
            "end of partition {partition}"
        );
        assert!(
            messages.windows(2).all(|w| w[0].offset + 1 == w[1].offset),
            "offsets in order"
        );
        seen.extend(
            messages
                .into_iter()
                .map(|m| (m.key.map(|k| k.to_vec()), m.value.to_vec())),
        );
        if expected > 1 {
            let later = log
                .fetch(&topic, partition, 1, 100, Duration::from_secs(3))
                .await
                .expect("fetch from 1");
            assert_eq!(later.len(), expected - 1);
            assert_eq!(later[0].offset, 1);
        }
    }
    seen.sort();
    let mut sent: Vec<(Option<Vec<u8>>, Vec<u8>)> = records
        .iter()
        .map(|r| (r.key.map(<[u8]>::to_vec), r.value.to_vec()))
        .collect();
    sent.sort();
    assert_eq!(seen, sent, "every record read back once");

    // Consumer-group offsets.
    let group = unique("conf-group-");
    assert_eq!(
        log.committed(&group, &topic, 1).await.expect("committed"),
        None
    );
    // A member of the group commits; anyone reads the group's offsets.
    let member = log.join(&group, &topic, 3).await.expect("join");
    member.commit(1, 2).await.expect("commit");
    assert_eq!(
        log.committed(&group, &topic, 1).await.expect("committed"),
        Some(2)
    );
    member.commit(1, 3).await.expect("commit");
    assert_eq!(
        log.committed(&group, &topic, 1).await.expect("committed"),
        Some(3)
    );
    member.leave().await;
    assert_eq!(
        log.committed(&unique("other-"), &topic, 1)
            .await
            .expect("committed"),
        None
    );

    if can_add_partitions {
        log.add_partitions(&topic, 5).await.expect("add partitions");
        assert_eq!(
            log.topic(&topic).await.expect("describe").expect("exists")["partitions"],
            5
        );
    }
    log.delete_topic(&topic).await.expect("delete topic");
}

/// Topic metadata can lag creation by a moment on a real broker.
async fn wait_for_topic(log: &dyn Log, topic: &str) -> Attrs {
    for _ in 0..50 {
        if let Some(attrs) = log.topic(topic).await.expect("describe") {
            return attrs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("topic {topic} never appeared");
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("runner-conf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn object_store_local() {
    let dir = scratch("objects");
    bucket_suite(&Local::new(&dir)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn object_store_moto() {
    let Some(endpoint) = service("RUNNER_TEST_AWS") else {
        return;
    };
    bucket_suite(&S3::new(s3_client(&endpoint))).await;
}

#[tokio::test]
async fn object_store_s3s_fs_checks_signatures_and_checksums() {
    // s3s-fs implements objects but not bucket tagging: the bucket is made directly.
    let Some(endpoint) = service("RUNNER_TEST_S3S") else {
        return;
    };
    let client = s3_client(&endpoint);
    let bucket = unique("conf-objects-");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    let store = S3::new(client);
    objects_suite(&store, &bucket, 1005).await;
    store.delete_bucket(&bucket).await.expect("delete bucket");
}

#[tokio::test]
async fn catalog_local() {
    let dir = scratch("catalog");
    catalog_suite(&Local::new(&dir)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn catalog_moto_glue() {
    let Some(endpoint) = service("RUNNER_TEST_AWS") else {
        return;
    };
    catalog_suite(&Glue::new(glue_client(&endpoint))).await;
}

#[tokio::test]
async fn log_local() {
    let dir = scratch("log");
    log_suite(&Local::new(&dir), true).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A client of the test broker (`None` when it is not running outside CI), with
/// `settings` on top of the bootstrap address.
fn tansu(settings: &[(&str, &str)]) -> Option<Kafka> {
    let bootstrap = service("RUNNER_TEST_KAFKA")?;
    let mut config = rdkafka::config::ClientConfig::new();
    config.set("bootstrap.servers", &bootstrap);
    for (key, value) in settings {
        config.set(*key, *value);
    }
    Some(Kafka::new(&config).expect("client"))
}

#[tokio::test]
async fn log_tansu_broker() {
    // tansu 0.6 cannot serve a fetch that starts inside a record batch (the suite reads from
    // offset 1): one record per batch.
    let Some(kafka) = tansu(&[("batch.num.messages", "1")]) else {
        return;
    };
    // tansu 0.6 answers CreatePartitions with "unsupported"; that path is covered by the
    // local log here and in the plan tests.
    log_suite(&kafka, false).await;
}

#[tokio::test]
async fn log_tansu_broker_with_zstd_records() {
    // Topics that other producers fill with zstd batches are read as any other.
    let Some(kafka) = tansu(&[("batch.num.messages", "1"), ("compression.type", "zstd")]) else {
        return;
    };
    log_suite(&kafka, false).await;
}

#[tokio::test]
async fn a_fetch_tells_where_a_tansu_partition_ends_though_list_offsets_does_not() {
    let Some(kafka) = tansu(&[]) else {
        return;
    };
    let topic = unique("conf_end_");
    let settings = json!({}).as_object().cloned().expect("object");
    kafka
        .create_topic(&topic, 1, 1, &settings)
        .await
        .expect("create topic");
    wait_for_topic(&kafka, &topic).await;
    assert_eq!(kafka.fetched_end(&topic, 0), None, "no fetch yet");
    // Several records a batch: tansu 0.6's ListOffsets under-reports this partition's end.
    let values: Vec<String> = (0..50).map(|i| format!("{{\"n\":{i}}}")).collect();
    let records: Vec<Record> = values
        .iter()
        .map(|value| Record {
            key: None,
            value: value.as_bytes(),
        })
        .collect();
    kafka.produce(&topic, &records).await.expect("produce");
    let mut read = 0;
    for _ in 0..20 {
        let got = kafka
            .fetch(&topic, 0, read, 100, Duration::from_secs(1))
            .await
            .expect("fetch");
        read += got.len() as u64;
        if read == 50 {
            break;
        }
    }
    assert_eq!(read, 50);
    assert_eq!(kafka.fetched_end(&topic, 0), Some(50));
}

#[tokio::test]
async fn bad_credentials_are_a_clear_error_not_a_hang() {
    let Some(endpoint) = service("RUNNER_TEST_S3S") else {
        return;
    };
    let config = aws_sdk_s3::Config::builder()
        .endpoint_url(&endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "wrong", None, None, "tests",
        ))
        .force_path_style(true)
        .behavior_version_latest()
        .build();
    let store = S3::new(aws_sdk_s3::Client::from_conf(config));
    let error = store
        .list("any-bucket", "")
        .await
        .expect_err("a wrong secret is refused");
    let message = error.to_string();
    assert!(message.starts_with("s3: ListObjectsV2"), "{message}");
    assert!(
        message.contains("Signature") || message.contains("AccessDenied"),
        "{message}"
    );
}
