/*
 * webhook.c - one webhook delivery with libcurl (see hooks.h): POST the JSON with
 * Content-Type application/json; 2xx is delivered; a connection error, a timeout,
 * 408, 429 or 5xx is worth retrying; any other status is final. The response body is
 * read and thrown away.
 */
#include "supportpulse/hooks.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

void sp_webhook_url_shown(const char *url, char *out, size_t size)
{
    snprintf(out, size, "(a malformed URL)");
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
            snprintf(out, size, "%s://%s:%s", scheme, host, port);
        else
            snprintf(out, size, "%s://%s", scheme, host);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

sp_hook_result sp_webhook_post(void *handle, const sp_hooks_conf *c, const char *json, char *errstr,
                               size_t errstr_size)
{
    CURL *curl = handle;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (headers && c->webhook_header && *c->webhook_header) {
        struct curl_slist *more = curl_slist_append(headers, c->webhook_header);
        if (!more) {
            curl_slist_free_all(headers);
            headers = NULL;
        } else {
            headers = more;
        }
    }
    if (!headers) {
        snprintf(errstr, errstr_size, "out of memory");
        return SP_HOOK_RETRY;
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, c->webhook_url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)c->webhook_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)c->webhook_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "supportpulse-alerts/1");
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        snprintf(errstr, errstr_size, "%s", curl_easy_strerror(rc));
        return SP_HOOK_RETRY;
    }
    if (status >= 200 && status < 300)
        return SP_HOOK_OK;
    snprintf(errstr, errstr_size, "HTTP %ld", status);
    return status == 408 || status == 429 || status >= 500 ? SP_HOOK_RETRY : SP_HOOK_FAILED;
}
