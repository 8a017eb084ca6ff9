//! The image resources: shapes, status codes and error codes of the contract.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn create_returns_the_resource_with_its_sniffed_type() {
    let g = spawn_gallery().await;
    let bytes = png();
    // The client claims a GIF in a data URL; the bytes are a PNG, and the bytes win.
    let res = g
        .request(
            Method::POST,
            "/images",
            Some(&g.token("alice")),
            Some(&json!({
                "title": "  Sunset  ",
                "description": "Over the bay",
                "data": format!("data:image/gif;base64,{}", b64(&bytes)),
            })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/images/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(body["title"], "Sunset");
    assert_eq!(body["description"], "Over the bay");
    assert_eq!(body["content_type"], "image/png");
    assert_eq!(body["size"], bytes.len());
    assert_eq!(body["owner"], "alice");
    assert!(body["created_at"].as_str().is_some());
    assert_eq!(body["created_at"], body["updated_at"]);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "content_type",
            "created_at",
            "description",
            "id",
            "image_url",
            "owner",
            "size",
            "title",
            "updated_at"
        ]
    );
    // Readable by id, by any authenticated user, with or without a trailing slash.
    let path = format!("/images/{}", body["id"].as_str().unwrap());
    for p in [path.clone(), format!("{path}/")] {
        let res = g.get(&p, Some(&g.token("bob"))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.json::<Value>().await.unwrap(), body);
    }
}

#[tokio::test]
async fn create_validates_its_fields() {
    let g = spawn_gallery().await;
    let t = g.token("alice");
    let post = |body: Value| {
        let g = &g;
        let t = t.clone();
        async move {
            g.request(Method::POST, "/images", Some(&t), Some(&body))
                .await
        }
    };
    let b = assert_error(
        post(json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(
        b["fields"]["title"].is_array() && b["fields"]["data"].is_array(),
        "{b}"
    );

    let b = assert_error(
        post(json!({"title": "x", "data": "%%% not base64 %%%"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(b["fields"]["data"].is_array(), "{b}");

    // Valid base64 that is not an image (an HTML page, an SVG).
    for not_image in [
        &b"<html><script>alert(1)</script></html>"[..],
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    ] {
        let b = assert_error(
            post(json!({"title": "x", "data": b64(not_image)})).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(b["fields"]["data"].is_array(), "{b}");
    }

    let b = assert_error(
        post(json!({"title": "   ", "data": b64(&png())})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(b["fields"]["title"].is_array(), "{b}");

    let b = assert_error(
        post(json!({"title": 5, "data": b64(&png())})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(b["fields"]["title"].is_array(), "{b}");
}

#[tokio::test]
async fn bodies_must_be_json() {
    let g = spawn_gallery().await;
    let t = g.token("alice");
    let res = g
        .client
        .post(g.url("/images"))
        .bearer_auth(&t)
        .header("content-type", "text/plain")
        .body("title=x")
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let res = g
        .client
        .post(g.url("/images"))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
}

#[tokio::test]
async fn images_up_to_500_kib_are_accepted_and_larger_ones_are_413() {
    let g = spawn_gallery().await;
    let t = g.token("alice");
    let mut bytes = png();
    bytes.resize(500 * 1024, 7);
    let created = g.create(&t, "exactly the limit", &bytes).await;
    assert_eq!(created["size"], 500 * 1024);

    bytes.push(7);
    let res = g
        .request(
            Method::POST,
            "/images",
            Some(&t),
            Some(&json!({"title": "one byte over", "data": b64(&bytes)})),
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // The same on update.
    let res = g
        .request(
            Method::PUT,
            &format!("/images/{}", created["id"].as_str().unwrap()),
            Some(&t),
            Some(&json!({"data": b64(&bytes)})),
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // A body far past the limit is cut off by the body limit, in the same shape.
    let huge = "A".repeat(2 * 1024 * 1024);
    let res = g
        .request(
            Method::POST,
            "/images",
            Some(&t),
            Some(&json!({"title": "huge", "data": huge})),
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn the_owner_updates_with_put_or_patch_and_others_get_403() {
    let g = spawn_gallery().await;
    let alice = g.token("alice");
    let created = g.create(&alice, "before", &png()).await;
    let path = format!("/images/{}", created["id"].as_str().unwrap());

    let res = g
        .request(
            Method::PUT,
            &path,
            Some(&alice),
            Some(&json!({"title": "after", "description": "now described"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["title"], "after");
    assert_eq!(updated["description"], "now described");
    assert_eq!(
        updated["image_url"], created["image_url"],
        "same bytes, same URL"
    );
    assert_eq!(updated["created_at"], created["created_at"]);

    // PATCH with null removes the description; omitted fields stay.
    let res = g
        .request(
            Method::PATCH,
            &path,
            Some(&alice),
            Some(&json!({"description": null})),
        )
        .await;
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["title"], "after");
    assert_eq!(updated["description"], Value::Null);

    let res = g
        .request(
            Method::PATCH,
            &path,
            Some(&alice),
            Some(&json!({"title": null})),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;

    let mallory = g.token("mallory");
    for method in [Method::PUT, Method::PATCH] {
        let res = g
            .request(
                method,
                &path,
                Some(&mallory),
                Some(&json!({"title": "mine now"})),
            )
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let res = g.request(Method::DELETE, &path, Some(&mallory), None).await;
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = g.get(&path, Some(&mallory)).await;
    assert_eq!(res.json::<Value>().await.unwrap()["title"], "after");
}

#[tokio::test]
async fn delete_by_the_owner_is_204_and_then_404() {
    let g = spawn_gallery().await;
    let alice = g.token("alice");
    let created = g.create(&alice, "short-lived", &png()).await;
    let path = format!("/images/{}", created["id"].as_str().unwrap());
    let res = g.request(Method::DELETE, &path, Some(&alice), None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.bytes().await.unwrap().is_empty());
    assert_error(
        g.get(&path, Some(&alice)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = g.request(Method::DELETE, &path, Some(&alice), None).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = g
        .request(
            Method::PUT,
            &path,
            Some(&alice),
            Some(&json!({"title": "x"})),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(
        g.get("/images/not-a-uuid", Some(&alice)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn the_list_pages_through_every_image_newest_first() {
    let g = spawn_gallery().await;
    let alice = g.token("alice");
    let bob = g.token("bob");
    let mut ids = Vec::new();
    for i in 0..5 {
        let t = if i % 2 == 0 { &alice } else { &bob };
        ids.push(g.create(t, &format!("n{i}"), &png()).await["id"].clone());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/images?limit=2&cursor={c}"),
            None => "/images?limit=2".to_string(),
        };
        let res = g.get(&path, Some(&alice)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.unwrap();
        let images = page["images"].as_array().unwrap();
        assert!(images.len() <= 2);
        seen.extend(images.iter().map(|i| i["id"].clone()));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);

    let mine: Value = g
        .get("/images?owner=me", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["images"].as_array().unwrap().len(), 2);
    assert!(
        mine["images"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["owner"] == "bob")
    );

    for bad in [
        "/images?limit=0",
        "/images?limit=101",
        "/images?limit=x",
        "/images?cursor=nope",
    ] {
        assert_error(
            g.get(bad, Some(&alice)).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let g = spawn_gallery().await;
    assert_error(
        g.get("/nothing", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = g
        .request(Method::DELETE, "/images", Some(&g.token("a")), None)
        .await;
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    assert_eq!(g.get("/healthz", None).await.status(), StatusCode::OK);
    assert_eq!(g.get("/readyz", None).await.status(), StatusCode::OK);
}
