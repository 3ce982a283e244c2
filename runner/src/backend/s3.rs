//! The object store on S3 (or any S3-compatible endpoint), through `aws-sdk-s3`.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, Tag, Tagging};
use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{BackendError, ObjectInfo, ObjectStore, Result};

fn failure<E, R>(what: &str, error: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    super::sdk_failure("s3", what, error)
}
use crate::resource::Attrs;

/// The client settings of a request that sends `bytes`: timeouts that give the body time
/// to go (see [`crate::backend::remote::timeouts`]).
fn sending(bytes: u64) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default().timeout_config(crate::backend::remote::timeouts(bytes))
}

/// Files larger than this are uploaded in parts of this size (S3's minimum part is 5 MiB).
pub const PART_SIZE: u64 = 8 << 20;

/// How long a presigned read of a source object stays valid (a read started before the
/// end runs to completion).
const READ_URL_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

/// S3 through one client.
pub struct S3 {
    client: Client,
}

impl S3 {
    /// Wraps a configured client.
    pub fn new(client: Client) -> Self {
        S3 { client }
    }
}

/// An HTTP body sent as the parts it is made of, one frame each.
struct Parts {
    /// The parts not sent yet.
    parts: std::collections::VecDeque<Bytes>,
    /// Their bytes.
    left: u64,
}

impl Parts {
    fn new(parts: Vec<Bytes>) -> Parts {
        let left = parts.iter().map(|part| part.len() as u64).sum();
        Parts {
            parts: parts.into(),
            left,
        }
    }
}

impl http_body::Body for Parts {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<Bytes>, Self::Error>>> {
        let part = self.parts.pop_front();
        if let Some(part) = &part {
            self.left -= part.len() as u64;
        }
        std::task::Poll::Ready(part.map(|part| Ok(http_body::Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

/// The HTTP status of an error response, if there was one.
pub(super) fn status<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

#[async_trait]
impl ObjectStore for S3 {
    async fn bucket(&self, bucket: &str) -> Result<Option<Attrs>> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => {}
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(failure(&format!("HeadBucket {bucket}"), e)),
        }
        let location = self
            .client
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| failure(&format!("GetBucketLocation {bucket}"), e))?;
        let region = match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(other) => other.to_owned(),
        };
        let tags = match self.client.get_bucket_tagging().bucket(bucket).send().await {
            Ok(out) => out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), json!(t.value())))
                .collect(),
            Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("NoSuchTagSet") => {
                Map::new()
            }
            Err(e) if status(&e) == Some(404) => Map::new(),
            Err(e) => return Err(failure(&format!("GetBucketTagging {bucket}"), e)),
        };
        Ok(Some(
            [
                ("region".to_owned(), json!(region)),
                ("tags".to_owned(), Value::Object(tags)),
            ]
            .into_iter()
            .collect(),
        ))
    }

    async fn create_bucket(
        &self,
        bucket: &str,
        region: &str,
        tags: &Map<String, Value>,
    ) -> Result<()> {
        let mut request = self.client.create_bucket().bucket(bucket);
        if region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        request
            .send()
            .await
            .map_err(|e| failure(&format!("CreateBucket {bucket}"), e))?;
        self.set_bucket_tags(bucket, tags).await
    }

    async fn set_bucket_tags(&self, bucket: &str, tags: &Map<String, Value>) -> Result<()> {
        let tag_set: Vec<Tag> = tags
            .iter()
            .filter_map(|(k, v)| {
                let value = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                Tag::builder().key(k).value(value).build().ok()
            })
            .collect();
        let tagging = Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| BackendError::Service {
                service: "s3",
                message: e.to_string(),
            })?;
        self.client
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| failure(&format!("PutBucketTagging {bucket}"), e))?;
        Ok(())
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        self.client
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| failure(&format!("DeleteBucket {bucket}"), e))?;
        Ok(())
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<()> {
        // The body is covered by its CRC32 checksum header, which is signed and which S3
        // checks, so the signature leaves out a SHA-256 of the whole body (a tenth of a
        // deliver's CPU, on the thread that drives every request).
        let size = body.len() as u64;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body))
            .customize()
            .config_override(sending(size))
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| failure(&format!("PutObject s3://{bucket}/{key}"), e))?;
        Ok(())
    }

    async fn put_parts(&self, bucket: &str, key: &str, parts: Vec<Bytes>) -> Result<()> {
        // The CRC32 checksum is given, as `put`'s is computed by the SDK from a body in one
        // piece: a body in parts would otherwise go as aws-chunked with the checksum in a
        // trailer.
        let mut crc = crc32fast::Hasher::new();
        for part in &parts {
            crc.update(part);
        }
        let crc = base64::engine::general_purpose::STANDARD.encode(crc.finalize().to_be_bytes());
        let length = parts.iter().map(Bytes::len).sum::<usize>();
        // Retryable: each attempt sends the parts again (cloning them copies no bytes).
        let body = SdkBody::retryable(move || SdkBody::from_body_1_x(Parts::new(parts.clone())));
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_length(length as i64)
            .checksum_crc32(crc)
            .body(ByteStream::new(body))
            .customize()
            .config_override(sending(length as u64))
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| failure(&format!("PutObject s3://{bucket}/{key}"), e))?;
        Ok(())
    }

    async fn put_if_absent(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<bool> {
        let result = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(false),
            Err(e) => Err(failure(
                &format!("PutObject (If-None-Match) s3://{bucket}/{key}"),
                e,
            )),
        }
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_versioned(bucket, key).await?.map(|(body, _)| body))
    }

    async fn get_versioned(&self, bucket: &str, key: &str) -> Result<Option<(Vec<u8>, String)>> {
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let version = out.e_tag().unwrap_or_default().to_owned();
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| BackendError::Service {
                        service: "s3",
                        message: format!("GetObject s3://{bucket}/{key}: {e}"),
                    })?;
                Ok(Some((bytes.into_bytes().to_vec(), version)))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(failure(&format!("GetObject s3://{bucket}/{key}"), e)),
        }
    }

    async fn put_if_version(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        version: Option<&str>,
    ) -> Result<Option<String>> {
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body));
        // S3 conditional writes: If-Match for compare and swap, If-None-Match to create.
        let request = match version {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(out) => match out.e_tag() {
                Some(etag) if !etag.is_empty() => Ok(Some(etag.to_owned())),
                _ => Err(BackendError::Service {
                    service: "s3",
                    message: format!(
                        "PutObject s3://{bucket}/{key}: the answer has no ETag, which \
                         conditional writes need"
                    ),
                }),
            },
            // 412: the version changed; 409: a concurrent conditional write won; 404: an
            // If-Match on an object deleted meanwhile.
            Err(e) if matches!(status(&e), Some(412 | 409 | 404)) => Ok(None),
            Err(e) => Err(failure(
                &format!("PutObject (conditional) s3://{bucket}/{key}"),
                e,
            )),
        }
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| failure(&format!("DeleteObject s3://{bucket}/{key}"), e))?;
        Ok(())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| failure(&format!("ListObjectsV2 s3://{bucket}/{prefix}"), e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                version: out.e_tag().unwrap_or_default().to_owned(),
            })),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(failure(&format!("HeadObject s3://{bucket}/{key}"), e)),
        }
    }

    async fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn std::io::Read + Send>> {
        // A presigned GET read by a blocking HTTP client streams the body straight into the
        // blocking reader, with the request signed by this client's credentials.
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(READ_URL_LIFETIME)
            .map_err(|e| BackendError::Service {
                service: "s3",
                message: e.to_string(),
            })?;
        let request = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| failure(&format!("GetObject s3://{bucket}/{key}"), e))?;
        let url = request.uri().to_owned();
        let name = format!("s3://{bucket}/{key}");
        tokio::task::spawn_blocking(move || match super::http_agent().get(&url).call() {
            Ok(response) => {
                Ok(Box::new(response.into_body().into_reader()) as Box<dyn std::io::Read + Send>)
            }
            Err(ureq::Error::StatusCode(404)) => Err(format!("GetObject {name}: no such object")),
            Err(ureq::Error::StatusCode(code)) => Err(format!("GetObject {name}: HTTP {code}")),
            Err(e) => Err(format!("GetObject {name}: {e}")),
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|message| BackendError::Service {
            service: "s3",
            message,
        })
    }

    async fn put_file(&self, bucket: &str, key: &str, path: &std::path::Path) -> Result<()> {
        let what = format!("s3://{bucket}/{key}");
        let io = |e: std::io::Error| BackendError::Io {
            path: path.display().to_string(),
            source: e,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size <= PART_SIZE {
            let body = ByteStream::from_path(path)
                .await
                .map_err(|e| BackendError::Service {
                    service: "s3",
                    message: format!("{}: {e}", path.display()),
                })?;
            self.client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(body)
                .customize()
                .config_override(sending(size))
                .send()
                .await
                .map_err(|e| failure(&format!("PutObject {what}"), e))?;
            return Ok(());
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| failure(&format!("CreateMultipartUpload {what}"), e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let result = self.upload_parts(bucket, key, &upload_id, path, size).await;
        if result.is_err() {
            // Leave no parts behind; the object never appeared.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }
}

impl S3 {
    /// Uploads `path` in [`PART_SIZE`] parts and completes the upload.
    async fn upload_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        path: &std::path::Path,
        size: u64,
    ) -> Result<()> {
        use aws_sdk_s3::primitives::Length;
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let what = format!("s3://{bucket}/{key}");
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let length = PART_SIZE.min(size - offset);
            let body = ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(length))
                .build()
                .await
                .map_err(|e| BackendError::Service {
                    service: "s3",
                    message: format!("{}: {e}", path.display()),
                })?;
            let part = self
                .client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .customize()
                .config_override(sending(length))
                .send()
                .await
                .map_err(|e| failure(&format!("UploadPart {number} of {what}"), e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_owned))
                    .build(),
            );
            offset += length;
            number += 1;
        }
        self.client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| failure(&format!("CompleteMultipartUpload {what}"), e))?;
        Ok(())
    }
}
