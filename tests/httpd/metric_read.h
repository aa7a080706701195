/*
 * One counter of a process's Prometheus text (GET /metrics on the front's --bind or a
 * matchmaker's --admin-bind, docs/OPERATIONS.md), for the end-to-end tests.
 */
#ifndef MM_TEST_METRIC_READ_H
#define MM_TEST_METRIC_READ_H

/**
 * The value of the line `name value` (name with its labels, e.g. `x_total{outcome="routed"}`)
 * of http://127.0.0.1:port/metrics; checks the status is 200; -1 when the line is absent.
 */
long long hd_metric(int port, const char *name);

#endif
