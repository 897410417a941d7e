//! `/v1/knowledge-sources`: create, upsert by external id, list, read, delete.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, assert_problem, assert_schema};

#[tokio::test]
async fn sources_upsert_by_external_id_and_delete() {
    for server in TestServer::each().await {
        let text = json!({"type": "text", "name": "FAQ", "externalId": "faq", "documents": [{"title": "Shipping", "body": "We ship worldwide."}]});
        let (status, created) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(text.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_schema("KnowledgeSource", &created);
        assert_eq!(created["status"], "queued");
        assert_eq!(created["type"], "text");
        assert_eq!(created["documentCount"], 1);

        let mut renamed = text.clone();
        renamed["name"] = json!("Frequently asked");
        let (status, updated) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(renamed))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(updated["id"], created["id"]);
        assert_eq!(updated["name"], "Frequently asked");

        let crawl = json!({"type": "url-crawl", "name": "Help center", "externalId": "faq", "seedUrls": ["https://help.example.com/"]});
        let response = server
            .request(Method::POST, "/v1/knowledge-sources", Some(&server.key))
            .json(&crawl)
            .send()
            .await
            .unwrap();
        assert_problem(
            response,
            StatusCode::CONFLICT,
            "knowledge_source_type_mismatch",
        )
        .await;

        let crawl = json!({"type": "url-crawl", "name": "Help center", "seedUrls": ["https://help.example.com/"]});
        let (status, crawl) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(crawl))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(crawl["maxPages"], 500, "the spec's default");
        assert_eq!(crawl["seedUrls"], json!(["https://help.example.com/"]));

        let (_, list) = server
            .send(Method::GET, "/v1/knowledge-sources?status=queued", None)
            .await;
        assert_schema("KnowledgeSourceList", &list);
        assert_eq!(list["data"].as_array().unwrap().len(), 2);

        let id = created["id"].as_str().unwrap();
        let (status, _) = server
            .send(Method::DELETE, &format!("/v1/knowledge-sources/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let response = server
            .request(
                Method::GET,
                &format!("/v1/knowledge-sources/{id}"),
                Some(&server.key),
            )
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_union_without_its_type_or_with_bad_urls_is_422() {
    for server in TestServer::each().await {
        for body in [
            json!({"name": "no type"}),
            json!({"type": "pdf", "name": "unknown type"}),
            json!({"type": "url-crawl", "name": "bad", "seedUrls": ["not a url"]}),
            json!({"type": "url-crawl", "name": "none", "seedUrls": []}),
        ] {
            let response = server
                .request(Method::POST, "/v1/knowledge-sources", Some(&server.key))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_problem(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        }
        server.finish().await;
    }
}
