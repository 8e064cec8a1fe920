/*
 * timezone.h - the desk's own day: where local midnight falls, for the 1d rollups and the
 * live hashes' "_today" values (docs/operations.md, "The desk's time zone").
 *
 * A zone is read once from the system's tz database (TZif files under $TZDIR or
 * /usr/share/zoneinfo, RFC 8536): its transitions, with the POSIX TZ rule at the end of
 * the file extended through the year 2100 (later instants keep the last offset). After
 * loading, a zone is immutable: any thread may read it without a lock.
 *
 * sp_zones holds the desk's default zone and the zones of named tenants; a dimension set
 * ("tenant=t1|queue=payments") takes its tenant's zone, and sets without a tenant the
 * default. Built once at start-up from the settings time_zone and tenant_time_zones,
 * then shared read-only by the publisher, the live writer and the alert evaluator.
 *
 * Also here: the calendar arithmetic the zones and the event-time parser share.
 */
#ifndef SUPPORTPULSE_TIMEZONE_H
#define SUPPORTPULSE_TIMEZONE_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/metrics.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31). */
int64_t sp_days_from_civil(int64_t y, int m, int d);
int sp_is_leap(int64_t y);
int sp_days_in_month(int64_t y, int m);

typedef struct sp_tz sp_tz;

/* Loads an IANA zone ("Asia/Shanghai"); "UTC" (and "") need no file. NULL with errstr
 * (an unknown name, a name that is not a plain relative path, a damaged file, out of
 * memory). Ownership: the caller's (sp_tz_free). */
sp_tz *sp_tz_load(const char *name, char *errstr, size_t errstr_size);
void sp_tz_free(sp_tz *z); /* NULL is a no-op */
const char *sp_tz_name(const sp_tz *z);
/* Seconds east of UTC in effect at epoch second s. */
int32_t sp_tz_offset(const sp_tz *z, int64_t s);
/* The first instant (epoch second) of the local day holding s: local midnight, or when a
 * change of offset skips midnight, the instant the day begins. */
int64_t sp_tz_day_start(const sp_tz *z, int64_t s);
/* The first instant of local date `days` (days since 1970-01-01); z NULL: UTC. */
int64_t sp_tz_date_start(const sp_tz *z, int64_t days);
/* The first instant of the next local day: a day lasts 23 or 25 hours across a change. */
int64_t sp_tz_day_end(const sp_tz *z, int64_t s);
/* Whether every day start from 2000 to 2100 is a multiple of width_s seconds (an
 * epoch-aligned window of that width then never straddles local midnight). */
int sp_tz_days_align(const sp_tz *z, int64_t width_s);

typedef struct sp_zones sp_zones;

/* The default zone and "tenant=Zone,..." (tenant names may not hold ',' or '='). NULL
 * with errstr naming the setting and what is wrong. Ownership: the caller's. */
sp_zones *sp_zones_new(const char *time_zone, const char *tenant_zones, char *errstr,
                       size_t errstr_size);
void sp_zones_free(sp_zones *z); /* NULL is a no-op */
/* The zone of a dimension set (its tenant's, else the default); z NULL: UTC. */
const sp_tz *sp_zones_for_dims(const sp_zones *z, const char *dims);
/* The start of the window of resolution r holding epoch second s, for dims: the epoch-
 * aligned window below 1d, the local day of dims' zone for 1d. z NULL: UTC. */
int64_t sp_zones_window_start(const sp_zones *z, const char *dims, int64_t s, int r);
/* Its end: start + width below 1d, the next local day's start for 1d. */
int64_t sp_zones_window_end(const sp_zones *z, const char *dims, int64_t start, int r);
/* Checks that each class's finest resolution (resolutions_by_dims) divides every day
 * start of every zone, so the 1d rollups are exact sums of whole finer windows. 0, or
 * -1 with errstr naming the zone and the class. */
int sp_zones_check_res(const sp_zones *z, const sp_res_by_class *rc, char *errstr,
                       size_t errstr_size);

#endif
