//! Object storage: buckets (no GET by id: ASSUMPTION NO_BUCKET_GET), access keys whose secret is
//! shown once, presigned URLs and the tenant's limits.

use serde_json::{Value, json};

use super::assumed::{BucketSpec, KeySpec, TENANT_QUOTA_BYTES};
use super::body::Fields;
use super::error::ApiError;
use super::lifecycle::Phase;
use super::store::{Row, Store};
use crate::sim::clock::rfc3339;
use crate::sim::ids::{new_id, random_secret, short_hex};

const ENDPOINT: &str = "https://s3.paas.vinacis.com";

#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub id: String,
    pub account: String,
    pub spec: BucketSpec,
    /// Its S3 name: names are not unique (ASSUMPTION NAMES_NOT_UNIQUE), this is.
    pub s3_name: String,
    pub phase: Phase,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Row for Bucket {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Bucket {
    pub fn view(&self, now: u64) -> Value {
        json!({
            "id": self.id,
            "name": self.spec.name,
            "public": self.spec.public,
            "bucket": self.s3_name,
            "endpoint": ENDPOINT,
            "status": self.phase.status(now),
            "size_bytes": 0,
            "object_count": 0,
            "created_at": rfc3339(self.created_ms),
            "updated_at": rfc3339(self.updated_ms),
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StorageKey {
    pub id: String,
    pub account: String,
    pub spec: KeySpec,
    pub access_key_id: String,
    pub secret: String,
    pub created_ms: u64,
}

impl Row for StorageKey {
    fn id(&self) -> &str {
        &self.id
    }
}

impl StorageKey {
    /// ASSUMPTION STORAGE_KEY_BODY: the secret only in the create answer (`created`).
    pub fn view(&self, created: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.spec.name,
            "access_key_id": self.access_key_id,
            "bucket_id": self.spec.bucket_id,
            "permissions": self.spec.permissions,
            "created_at": rfc3339(self.created_ms),
        });
        if created {
            v["secret_access_key"] = json!(self.secret);
        }
        v
    }
}

impl Store {
    fn bucket(&self, account: &str, id: &str) -> Result<&Bucket, ApiError> {
        self.buckets
            .get(id)
            .filter(|b| b.account == account)
            .ok_or_else(|| ApiError::not_found("bucket", id))
    }

    pub fn tenant(&self, account: &str) -> Value {
        json!({
            "bucket_limit": self.settings.bucket_limit,
            "buckets": self.buckets.iter().filter(|b| b.account == account).count(),
            "keys": self.keys.iter().filter(|k| k.account == account).count(),
            "quota_bytes": TENANT_QUOTA_BYTES,
            "used_bytes": 0,
        })
    }

    /// ASSUMPTION BUCKET_BODY: at most the bucket limit per account.
    pub fn create_bucket(
        &mut self,
        account: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let spec = BucketSpec::parse(Fields::of(body)?)?;
        let limit = self.settings.bucket_limit;
        if self.buckets.iter().filter(|b| b.account == account).count() >= limit as usize {
            return Err(ApiError::bad_request(format!(
                "bucket limit reached: your tenant allows {limit} buckets"
            )));
        }
        let s3_name = format!("{}-{}", spec.name, short_hex(8));
        let bucket = Bucket {
            id: new_id(),
            account: account.to_owned(),
            spec,
            s3_name,
            phase: Phase::after("provisioning", "active", now, self.settings.provision_ms),
            created_ms: now,
            updated_ms: now,
        };
        Ok(self.buckets.insert(bucket).view(now))
    }

    pub fn list_buckets(&self, account: &str, now: u64) -> Value {
        let views: Vec<Value> = self
            .buckets
            .iter()
            .filter(|b| b.account == account)
            .map(|b| b.view(now))
            .collect();
        Value::Array(views)
    }

    pub fn patch_bucket(
        &mut self,
        account: &str,
        id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let mut spec = self.bucket(account, id)?.spec.clone();
        spec.patch(Fields::of(body)?)?;
        let bucket = self.buckets.get_mut(id).expect("found above");
        bucket.spec = spec;
        bucket.updated_ms = now;
        Ok(bucket.view(now))
    }

    /// ASSUMPTION KEYS_OUTLIVE_BUCKET.
    pub fn delete_bucket(&mut self, account: &str, id: &str) -> Result<(), ApiError> {
        self.bucket(account, id)?;
        self.buckets.remove(id);
        Ok(())
    }

    /// ASSUMPTION PRESIGN_BODY.
    pub fn presign(
        &self,
        account: &str,
        id: &str,
        body: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let bucket = self.bucket(account, id)?;
        let status = bucket.phase.status(now);
        if status != "active" {
            return Err(ApiError::bad_request(format!(
                "bucket is {status}: presigned URLs are issued once it is active"
            )));
        }
        let f = Fields::of(body)?;
        let key = f.str("key")?;
        if key.is_empty() || key.len() > 1024 {
            return Err(ApiError::bad_request("invalid key: 1-1024 bytes"));
        }
        let method = f.opt_choice("method", &["GET", "PUT"])?.unwrap_or("GET");
        let expires_in = f.opt_int("expires_in", 1..=604_800)?.unwrap_or(3600);
        let expires_ms = now + u64::from(expires_in) * 1000;
        Ok(json!({
            "url": format!(
                "{ENDPOINT}/{}/{key}?X-Amz-Expires={expires_in}&X-Amz-Signature={}",
                bucket.s3_name,
                short_hex(64)
            ),
            "method": method,
            "expires_at": rfc3339(expires_ms),
        }))
    }

    pub fn create_key(&mut self, account: &str, body: &Value, now: u64) -> Result<Value, ApiError> {
        let spec = KeySpec::parse(Fields::of(body)?)?;
        if let Some(bucket_id) = &spec.bucket_id {
            self.bucket(account, bucket_id)?;
        }
        let key = StorageKey {
            id: new_id(),
            account: account.to_owned(),
            spec,
            access_key_id: format!("AK{}", short_hex(18).to_uppercase()),
            secret: random_secret(40),
            created_ms: now,
        };
        Ok(self.keys.insert(key).view(true))
    }

    pub fn list_keys(&self, account: &str) -> Value {
        let views: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| k.account == account)
            .map(|k| k.view(false))
            .collect();
        Value::Array(views)
    }

    pub fn delete_key(&mut self, account: &str, id: &str) -> Result<(), ApiError> {
        self.keys
            .get(id)
            .filter(|k| k.account == account)
            .ok_or_else(|| ApiError::not_found("storage key", id))?;
        self.keys.remove(id);
        Ok(())
    }
}
