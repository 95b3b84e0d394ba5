//! Requests to an app under test (in-process or the real binary) and the pages it answers,
//! so tests read like the behaviour they check: `app.fetch("7").await.assert(200, "Grace")`.

use employee_db::employee::{Field, VERSION_FIELD};
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::wait::eventually;

/// The app at `127.0.0.1:port`, asked by a client that does not follow redirects.
pub struct Http {
    pub port: u16,
    pub address: String,
    pub client: reqwest::Client,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        header(&self.headers, name)
    }

    /// The version the edit form on this page was loaded from (its hidden field).
    #[track_caller]
    pub fn version(&self) -> String {
        let marker = format!(r#"name="{VERSION_FIELD}" value=""#);
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no version field in:\n{}", self.body))
            + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .expect("a quoted value")
            .to_owned()
    }

    #[track_caller]
    pub fn assert(&self, status: u16, needle: &str) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.body
        );
        assert!(
            self.body.contains(needle),
            "page does not contain {needle:?}:\n{}",
            self.body
        );
        self
    }
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The add form with `values` in its order (ID, first name, last name, primary skill,
/// location), under the names the original app's users and scripts post.
pub fn employee_form(values: [&str; 5]) -> Vec<(&'static str, String)> {
    Field::ALL
        .map(Field::name)
        .into_iter()
        .zip(values.map(str::to_owned))
        .collect()
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl Http {
    pub fn on_port(port: u16) -> Http {
        Http {
            port,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("response body");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        Self::read(response).await
    }

    /// Status, headers and the body as bytes (images).
    pub async fn get_bytes(&self, path: &str) -> (u16, HeaderMap, Vec<u8>) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("body").to_vec();
        (status, headers, body)
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.post_raw(path, "application/x-www-form-urlencoded", body.into_bytes())
            .await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Page {
        let mut request = self.client.post(self.url(path)).body(body);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        Self::read(request.send().await.expect("POST")).await
    }

    pub async fn add_employee(
        &self,
        emp_id: &str,
        first: &str,
        last: &str,
        skill: &str,
        location: &str,
    ) -> Page {
        let form = employee_form([emp_id, first, last, skill, location]);
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post_form("/addemp", &fields).await
    }

    /// Posts the edit form of `emp_id` with `values` (ID first) over `version`.
    pub async fn edit_employee(&self, emp_id: &str, version: &str, values: [&str; 5]) -> Page {
        let mut form = employee_form(values);
        form.push((VERSION_FIELD, version.to_owned()));
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post_form(&format!("/employees/{emp_id}/edit"), &fields)
            .await
    }

    pub async fn fetch(&self, emp_id: &str) -> Page {
        self.post_form("/fetchdata", &[(Field::EmpId.name(), emp_id)])
            .await
    }

    /// Waits for `/readyz` to answer 200 (migrations done).
    pub async fn wait_until_ready(&self, limit: Duration) {
        eventually("the app is ready", limit, async || {
            let page = self.get("/readyz").await;
            if page.status == 200 {
                Ok(())
            } else {
                Err(format!("{} {}", page.status, page.body))
            }
        })
        .await
    }
}
