//! The Graph API calls the channel makes: send a message, upload a document, look a
//! media id up and download it. Every call carries the access token.

use std::time::Duration;

use serde_json::Value;
use url::Url;

/// A send or download must not hang a job forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// How a Graph API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The API answered with an error object: its code and words.
    #[error("WhatsApp error {code}: {message}")]
    Api {
        http_status: u16,
        code: i64,
        message: String,
    },
    /// No usable answer (network, timeout, a proxy's HTML page, a 5xx without JSON).
    #[error("WhatsApp API not reachable: {0}")]
    Transport(String),
}

/// A media item as the Graph API describes it.
#[derive(Debug, Clone)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: Option<String>,
    pub file_size: Option<u64>,
}

/// Why a media download was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaProblem {
    TooLarge(u64),
    Failed(String),
}

/// The client of one business phone number.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) token: String,
    pub(crate) phone_number_id: String,
}

impl GraphClient {
    pub fn new(base: Url, token: String, phone_number_id: String) -> GraphClient {
        GraphClient {
            http: reqwest::Client::new(),
            base,
            token,
            phone_number_id,
        }
    }

    /// `<base>/<segments...>`, keeping a base path such as `/v21.0`.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut s) = url.path_segments_mut() {
            s.pop_if_empty();
            for seg in segments {
                s.push(seg);
            }
        }
        url
    }

    /// POST `<base>/<phone id>/messages`; the `wamid` of the message.
    pub async fn send(&self, body: &Value) -> Result<String, ApiError> {
        let url = self.url(&[&self.phone_number_id, "messages"]);
        let answer = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .timeout(CALL_TIMEOUT)
            .json(body)
            .send()
            .await;
        let v = read(answer).await?;
        v["messages"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Transport(format!("no message id in the answer: {v}")))
    }

    /// POST `<base>/<phone id>/media` (multipart); the media id to send it by.
    pub async fn upload(
        &self,
        file_name: &str,
        content_type: &str,
        content: Vec<u8>,
    ) -> Result<String, ApiError> {
        let url = self.url(&[&self.phone_number_id, "media"]);
        let part = reqwest::multipart::Part::bytes(content)
            .file_name(file_name.to_owned())
            .mime_str(content_type)
            .or_else(|_| {
                reqwest::multipart::Part::bytes(Vec::new()).mime_str("application/octet-stream")
            })
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", content_type.to_owned())
            .part("file", part);
        let answer = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .timeout(DOWNLOAD_TIMEOUT)
            .multipart(form)
            .send()
            .await;
        let v = read(answer).await?;
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Transport(format!("no media id in the answer: {v}")))
    }

    /// GET `<base>/<media id>`: where the media is and how large.
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, ApiError> {
        let answer = self
            .http
            .get(self.url(&[media_id]))
            .bearer_auth(&self.token)
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
        let v = read(answer).await?;
        let url = v["url"]
            .as_str()
            .ok_or_else(|| ApiError::Transport(format!("no url for media {media_id}")))?;
        Ok(MediaInfo {
            url: url.to_owned(),
            mime_type: v["mime_type"].as_str().map(str::to_owned),
            file_size: v["file_size"]
                .as_u64()
                .or_else(|| v["file_size"].as_str().and_then(|s| s.parse().ok())),
        })
    }

    /// Media id -> URL -> bytes, at most `limit` bytes (counted while reading: the size
    /// the API declares is not a promise).
    pub async fn download(&self, media_id: &str, limit: u64) -> Result<MediaInfo2, MediaProblem> {
        let info = self
            .media_info(media_id)
            .await
            .map_err(|e| MediaProblem::Failed(e.to_string()))?;
        if let Some(size) = info.file_size.filter(|s| *s > limit) {
            return Err(MediaProblem::TooLarge(size));
        }
        let url =
            Url::parse(&info.url).map_err(|e| MediaProblem::Failed(format!("media url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(MediaProblem::Failed("media url is not http(s)".into()));
        }
        let mut response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .map_err(|e| MediaProblem::Failed(format!("download: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(MediaProblem::Failed(format!(
                "download: HTTP {}",
                response.status()
            )));
        }
        let mut content = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| MediaProblem::Failed(format!("download: {}", e.without_url())))?
        {
            if (content.len() + chunk.len()) as u64 > limit {
                return Err(MediaProblem::TooLarge((content.len() + chunk.len()) as u64));
            }
            content.extend_from_slice(&chunk);
        }
        Ok(MediaInfo2 {
            mime_type: info.mime_type,
            content,
        })
    }
}

/// Downloaded media.
#[derive(Debug, Clone)]
pub struct MediaInfo2 {
    pub mime_type: Option<String>,
    pub content: Vec<u8>,
}

/// The JSON of a 2xx answer, or the error the answer carries.
async fn read(answer: Result<reqwest::Response, reqwest::Error>) -> Result<Value, ApiError> {
    let response = answer.map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
    let v: Value = serde_json::from_str(&text).map_err(|_| {
        let head: String = text.chars().take(200).collect();
        ApiError::Transport(format!("HTTP {status}, not JSON: {head}"))
    })?;
    if (200..300).contains(&status) && v.get("error").is_none() {
        return Ok(v);
    }
    let e = &v["error"];
    let Some(code) = e["code"].as_i64() else {
        return Err(ApiError::Transport(format!("HTTP {status}: {v}")));
    };
    let mut message = e["message"].as_str().unwrap_or("error").to_owned();
    if let Some(details) = e["error_data"]["details"].as_str() {
        message.push_str(" (");
        message.push_str(details);
        message.push(')');
    }
    Err(ApiError::Api {
        http_status: status,
        code,
        message,
    })
}
