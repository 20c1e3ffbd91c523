/* dp_accept: content negotiation by the Accept request header (RFC 9110, 12.5.1).
 * Pure C, no httpd headers. */
#ifndef DP_ACCEPT_H
#define DP_ACCEPT_H

/* The quality, 0..1000, that an Accept header gives the media type `type` ("text/csv"): the
 * q of the most specific range that matches it (type/subtype over type/ * over * / *; q=1
 * when absent), 0 when no range matches. A NULL or blank header accepts everything (1000).
 * Parameters other than q do not narrow a range; a malformed element is skipped. */
int dp_accept_quality(const char *accept, const char *type);

#endif
