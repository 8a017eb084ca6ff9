//! The public files: served without a token at the `image_url` a resource returns, with the type
//! sniffed at upload, shared by resources with equal bytes, gone with the last of them.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_image_url_serves_the_bytes_publicly_with_the_right_type() {
    let g = spawn_gallery().await;
    let token = g.token("alice");
    for (bytes, ct, ext) in [(png(), "image/png", "png"), (jpeg(), "image/jpeg", "jpg")] {
        let created = g.create(&token, "pic", &bytes).await;
        let url = created["image_url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/images/files/", g.base)),
            "{url}"
        );
        assert!(url.ends_with(&format!(".{ext}")), "{url}");
        let res = g.fetch_public(url).await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers().clone();
        assert_eq!(h["content-type"], ct);
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("etag"));
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());

        // Revalidation is cheap.
        let res = g
            .client
            .get(url)
            .header("if-none-match", h["etag"].to_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        // HEAD works too.
        let res = g.client.head(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn equal_bytes_share_one_file_until_the_last_resource_goes() {
    let g = spawn_gallery().await;
    let bytes = png();
    let a = g.create(&g.token("alice"), "mine", &bytes).await;
    let b = g.create(&g.token("bob"), "also mine", &bytes).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["image_url"], b["image_url"]);
    let url = a["image_url"].as_str().unwrap().to_string();

    let res = g
        .request(
            Method::DELETE,
            &format!("/images/{}", a["id"].as_str().unwrap()),
            Some(&g.token("alice")),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(g.fetch_public(&url).await.status(), StatusCode::OK);

    let res = g
        .request(
            Method::DELETE,
            &format!("/images/{}", b["id"].as_str().unwrap()),
            Some(&g.token("bob")),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        g.fetch_public(&url).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // And the file is gone from disk.
    let files: Vec<_> = walk(&g.data_dir.join("images"));
    assert!(files.is_empty(), "{files:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn changing_the_bytes_moves_the_url_and_retires_the_old_one() {
    let g = spawn_gallery().await;
    let token = g.token("alice");
    let created = g.create(&token, "v1", &png()).await;
    let old_url = created["image_url"].as_str().unwrap().to_string();
    let new_bytes = jpeg();
    let res = g
        .request(
            Method::PATCH,
            &format!("/images/{}", created["id"].as_str().unwrap()),
            Some(&token),
            Some(&json!({"data": b64(&new_bytes)})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let updated: serde_json::Value = res.json().await.unwrap();
    let new_url = updated["image_url"].as_str().unwrap();
    assert_ne!(new_url, old_url);
    assert_eq!(updated["content_type"], "image/jpeg");
    assert_eq!(updated["size"], new_bytes.len());
    assert_error(
        g.fetch_public(&old_url).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = g.fetch_public(new_url).await;
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(res.bytes().await.unwrap().as_ref(), new_bytes.as_slice());
}

#[tokio::test]
async fn urls_that_name_no_stored_file_are_404() {
    let g = spawn_gallery().await;
    let created = g.create(&g.token("alice"), "pic", &png()).await;
    let url = created["image_url"].as_str().unwrap();
    // The right hash with another extension: not what was stored.
    let as_gif = url.replace(".png", ".gif");
    assert_error(
        g.fetch_public(&as_gif).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for path in [
        "/images/files/nothing.png",
        "/images/files/..%2fgallery.db",
        "/images/files/..%2f..%2fetc%2fpasswd",
        &format!("/images/files/{}.png", "0".repeat(64)),
    ] {
        let res = g.get(path, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn resources_and_files_survive_a_restart() {
    let g = spawn_gallery().await;
    let created = g.create(&g.token("alice"), "kept", &png()).await;
    let g = g.restart().await;
    let id = created["id"].as_str().unwrap();
    let res = g
        .get(&format!("/images/{id}"), Some(&g.token("alice")))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let again: serde_json::Value = res.json().await.unwrap();
    assert_eq!(again["title"], "kept");
    // The base URL changed with the port; the file is there under the new one.
    let res = g.fetch_public(again["image_url"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
}
