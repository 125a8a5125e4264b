//! HTTP client for the CLI: signs locally with a keystore and posts to a server.

pub mod keystore;
pub mod receipt;

use serde_json::{json, Value};
use std::collections::BTreeMap;

use crate::client::keystore::Keystore;
use crate::client::receipt::{ContainerContents, Packed, ShipmentView};
use crate::domain::custody::batches_of;
use crate::domain::statement::{
    BatchId, EventStatement, EventType, ExceptionType, StatementId, UnitRange,
};
use crate::domain::time::Timestamp;
use crate::formats::gs1::Sscc;
use crate::formats::sign::{self, Kind, SignError};

/// How often a client re-reads heads and re-signs after a 409 before giving up.
pub const MAX_CAS_RETRIES: usize = 30;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not reach the server.
    #[error("cannot reach {server}: {source}")]
    Http {
        /// Server base URL.
        server: String,
        /// Cause.
        source: reqwest::Error,
    },
    /// The server refused, with its error code and message.
    #[error("server answered {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// Message.
        message: String,
        /// Extra body fields (heads on 409).
        body: Value,
    },
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// A server connection with an optional bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

impl Client {
    /// A client for `server` (base URL), sending `token` when given.
    pub fn new(server: &str, token: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Client {
            http,
            server: server.trim_end_matches('/').to_owned(),
            token,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let http_err = |source| ClientError::Http {
            server: self.server.clone(),
            source,
        };
        let resp = req.send().await.map_err(http_err)?;
        let status = resp.status();
        let text = resp.text().await.map_err(http_err)?;
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({"message": text}));
        if status.is_success() {
            return Ok(body);
        }
        Err(ClientError::Api {
            status: status.as_u16(),
            code: body["error"].as_str().unwrap_or("error").to_owned(),
            message: body["message"].as_str().unwrap_or("").to_owned(),
            body,
        })
    }

    /// GET a path under the server.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.server)))
            .await
    }

    /// POST a JSON text to a path under the server.
    pub async fn post(&self, path: &str, body: String) -> Result<Value, ClientError> {
        let req = self
            .http
            .post(format!("{}{path}", self.server))
            .header("content-type", "application/json")
            .body(body);
        self.send(req).await
    }

    /// Posts a signed statement of a kind.
    pub async fn submit(&self, kind: Kind, statement: &Value) -> Result<Value, ClientError> {
        let path = match kind {
            Kind::Batch => "/api/v1/batches",
            Kind::Event => "/api/v1/events",
            Kind::Key | Kind::Label => "/api/v1/keys",
        };
        self.post(path, statement.to_string()).await
    }

    /// Current chain heads of some batches.
    pub async fn heads(
        &self,
        batches: &[BatchId],
    ) -> Result<BTreeMap<BatchId, StatementId>, ClientError> {
        let mut out = BTreeMap::new();
        for b in batches {
            let v = self.get(&format!("/api/v1/batches/{b}")).await?;
            let head = v["head"]
                .as_str()
                .and_then(|h| BatchId::parse(h).ok())
                .ok_or_else(|| ClientError::Api {
                    status: 200,
                    code: "bad_response".into(),
                    message: format!("batch {b} has no head in the answer"),
                    body: v.clone(),
                })?;
            out.insert(*b, head);
        }
        Ok(out)
    }

    /// Resolves whatever a scanner delivered to (batch, unit index).
    pub async fn resolve(&self, code: &str) -> Result<UnitRange, ClientError> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/resolve", self.server),
            &[("code", code)],
        )
        .map_err(|e| ClientError::Api {
            status: 0,
            code: "bad_code".into(),
            message: e.to_string(),
            body: Value::Null,
        })?;
        let v = self.send(self.http.get(url)).await?;
        let batch = v["batch"].as_str().and_then(|b| BatchId::parse(b).ok());
        let index = v["index"].as_u64();
        match (batch, index) {
            (Some(batch), Some(i)) => Ok(UnitRange {
                batch,
                first: i,
                last: i,
            }),
            _ => Err(ClientError::Api {
                status: 200,
                code: "bad_response".into(),
                message: "resolve gave no unit".into(),
                body: v,
            }),
        }
    }

    /// A packed case or pallet: every unit inside it and the containers directly inside.
    pub async fn container(&self, sscc: &Sscc) -> Result<ContainerContents, ClientError> {
        let v = self.get(&format!("/api/v1/containers/{sscc}")).await?;
        decode(v, &format!("container {sscc}"))
    }

    /// Every unit inside a packed case or pallet, at any depth.
    pub async fn container_units(&self, sscc: &Sscc) -> Result<Vec<UnitRange>, ClientError> {
        Ok(self.container(sscc).await?.units)
    }

    /// A container with the containers inside it, to any depth (one request per container).
    pub async fn packed(&self, sscc: &Sscc) -> Result<Packed, ClientError> {
        // Read breadth-first, then assemble bottom-up: no async recursion.
        let looped = || ClientError::Api {
            status: 200,
            code: "bad_response".into(),
            message: format!("container {sscc} is packed in a loop"),
            body: Value::Null,
        };
        let mut read: Vec<ContainerContents> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut queue = vec![sscc.clone()];
        while let Some(s) = queue.pop() {
            if !seen.insert(s.clone()) {
                return Err(looped());
            }
            let c = self.container(&s).await?;
            queue.extend(c.children.iter().cloned());
            read.push(c);
        }
        let mut done: std::collections::HashMap<Sscc, Packed> = std::collections::HashMap::new();
        // Every child is read after its parent, so the reverse order builds children first.
        for c in read.into_iter().rev() {
            let children = c.children.iter().filter_map(|k| done.remove(k)).collect();
            done.insert(
                c.sscc.clone(),
                Packed {
                    sscc: c.sscc,
                    units: c.units,
                    children,
                },
            );
        }
        done.remove(sscc).ok_or_else(looped)
    }

    /// A shipment, its units still in transit and its receipts so far.
    pub async fn shipment(&self, id: &StatementId) -> Result<ShipmentView, ClientError> {
        let v = self.get(&format!("/api/v1/shipments/{id}")).await?;
        decode(v, &format!("shipment {id}"))
    }

    /// Batches whose units an event covers, looking up the contents of the containers it names.
    pub async fn batches_covered(
        &self,
        event: &EventStatement,
    ) -> Result<Vec<BatchId>, ClientError> {
        let mut units = event.objects.clone();
        let mut containers: Vec<&Sscc> = event.containers.iter().collect();
        if event.event_type == EventType::Unpacking {
            containers.extend(&event.parent);
        }
        for sscc in containers {
            units.extend(self.container_units(sscc).await?);
        }
        // A receipt covers what is in its containers less what it reports short.
        if event.event_type == EventType::Receiving {
            for ex in &event.exceptions {
                if ex.kind == ExceptionType::Shortage {
                    units = ex.objects.iter().fold(units, receipt::subtract);
                }
            }
        }
        Ok(batches_of(&units))
    }

    /// Signs and submits an event, filling party, key, time and `prev`.
    ///
    /// On 409 it re-reads the heads and re-signs: if another till took other
    /// units of the batch meanwhile, the retry succeeds; if someone took these
    /// very units, the server now refuses it by the holder rule and that error
    /// is returned for a person to see.
    pub async fn submit_event(
        &self,
        ks: &Keystore,
        mut event: EventStatement,
    ) -> Result<Value, ClientError> {
        let touched = self.batches_covered(&event).await?;
        let mut last_err = None;
        for _ in 0..MAX_CAS_RETRIES {
            event.prev = self.heads(&touched).await?;
            let (stmt, _) = sign_event(ks, &mut event)?;
            match self.submit(Kind::Event, &stmt).await {
                Err(ClientError::Api {
                    status: 409,
                    code,
                    message,
                    body,
                }) if code == "conflict" => {
                    last_err = Some(ClientError::Api {
                        status: 409,
                        code,
                        message,
                        body,
                    });
                }
                other => return other,
            }
        }
        Err(last_err.unwrap_or_else(|| ClientError::Api {
            status: 409,
            code: "conflict".into(),
            message: "gave up after repeated conflicts".into(),
            body: Value::Null,
        }))
    }
}

/// Reads an answer into a typed value; an answer of another shape is an error, not an empty list.
fn decode<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, ClientError> {
    serde_json::from_value(v.clone()).map_err(|e| ClientError::Api {
        status: 200,
        code: "bad_response".into(),
        message: format!("the server's answer for {what} has an unexpected shape: {e}"),
        body: v,
    })
}

/// A new event of a type over some units, signed by `ks` (prev left empty).
pub fn draft_event(
    ks: &Keystore,
    event_type: EventType,
    objects: Vec<UnitRange>,
) -> EventStatement {
    EventStatement::new(
        ks.party.clone(),
        ks.key_id.clone(),
        Timestamp::now(),
        event_type,
        objects,
    )
}

/// Stamps party and key onto an event and signs it.
pub fn sign_event(ks: &Keystore, event: &mut EventStatement) -> Result<(Value, String), SignError> {
    event.party = ks.party.clone();
    event.key = ks.key_id.clone();
    sign::sign(Kind::Event, event, &ks.key)
}
