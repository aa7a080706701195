/*
 * mm_nats_env_read(): every variable of docs/protocol.md section 8, the errors that name the variable, the
 * NATS_PASS alias, and the NATS_CA_CONTENTS temp file (mode 0600, removed by destroy).
 * No server needed: this only reads the environment.
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm/log.h"
#include "mm/nats_env.h"
#include "mm_test.h"

static void
clear_env(void)
{
    const char *names[] = {"NATS_HOST", "NATS_USER", "NATS_PASSWORD", "NATS_PASS", "NATS_INSECURE", "NATS_CA", "NATS_CA_CONTENTS"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

/* Reads the environment expecting failure; checks the error names var. */
static void
expect_invalid(const char *host, const char *var_expected)
{
    mm_nats_env *env = NULL;
    const char *var = NULL;
    char why[256] = "";
    if (host != NULL)
        setenv("NATS_HOST", host, 1);
    mm_err err = mm_nats_env_read(&env, &var, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_ERR_INVALID);
    MM_CHECK(env == NULL);
    MM_CHECK_STR(var, var_expected);
    MM_CHECK(strstr(why, var_expected) != NULL);
    MM_CHECK(strchr(why, '\n') == NULL);
    if (err == MM_OK)
        mm_nats_env_destroy(env);
}

/* Reads NATS_HOST=host expecting one or two servers. */
static void
expect_servers(const char *host, const char *first, const char *second)
{
    mm_nats_env *env = NULL;
    char why[256] = "";
    setenv("NATS_HOST", host, 1);
    mm_err err = mm_nats_env_read(&env, NULL, why, sizeof(why));
    MM_CHECK_INT(err, ==, MM_OK);
    if (err != MM_OK) {
        fprintf(stderr, "  NATS_HOST=%s: %s\n", host, why);
        return;
    }
    MM_CHECK_INT(env->server_count, ==, second != NULL ? 2 : 1);
    MM_CHECK_STR(env->servers[0], first);
    if (second != NULL && env->server_count == 2)
        MM_CHECK_STR(env->servers[1], second);
    mm_nats_env_destroy(env);
}

static void
test_host(void)
{
    clear_env();
    expect_invalid(NULL, "NATS_HOST");
    expect_invalid("", "NATS_HOST");
    expect_servers("nats.example.org", "nats://nats.example.org:4222", NULL);
    expect_servers("10.0.0.1:1234", "nats://10.0.0.1:1234", NULL);
    expect_servers("[::1]:5000", "nats://[::1]:5000", NULL);
    expect_servers("[::1]", "nats://[::1]:4222", NULL);
    expect_servers("fe80::1", "nats://[fe80::1]:4222", NULL);
    expect_servers("a:1, b", "nats://a:1", "nats://b:4222");
    expect_servers("tls://secure.example.org:4443", "tls://secure.example.org:4443", NULL);
    const char *bad[] = {"h:0", "h:65536", "h:abc", ":4222", "h:", "a,,b", "[::1", "[::1]5", "a b:1", "h:-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_invalid(bad[i], "NATS_HOST");
}

static void
test_credentials(void)
{
    clear_env();
    setenv("NATS_USER", "alice", 1);
    expect_invalid("h", "NATS_PASSWORD");
    unsetenv("NATS_USER");
    setenv("NATS_PASSWORD", "s3cret", 1);
    expect_invalid("h", "NATS_USER");
    unsetenv("NATS_PASSWORD");

    /* The NATS_PASS alias, and NATS_PASSWORD winning when both are set. */
    mm_nats_env *env = NULL;
    setenv("NATS_USER", "alice", 1);
    setenv("NATS_PASS", "alias-pw", 1);
    MM_REQUIRE(mm_nats_env_read(&env, NULL, NULL, 0) == MM_OK);
    MM_CHECK_STR(env->user, "alice");
    MM_CHECK_STR(env->password, "alias-pw");
    mm_nats_env_destroy(env);
    setenv("NATS_PASSWORD", "main-pw", 1);
    MM_REQUIRE(mm_nats_env_read(&env, NULL, NULL, 0) == MM_OK);
    MM_CHECK_STR(env->password, "main-pw");
    mm_nats_env_destroy(env);

    /* Neither set: no credentials at all. */
    clear_env();
    setenv("NATS_HOST", "h", 1);
    MM_REQUIRE(mm_nats_env_read(&env, NULL, NULL, 0) == MM_OK);
    MM_CHECK(env->user == NULL && env->password == NULL);
    mm_nats_env_destroy(env);
}

static void
test_insecure(void)
{
    clear_env();
    setenv("NATS_HOST", "h", 1);
    mm_nats_env *env = NULL;
    MM_REQUIRE(mm_nats_env_read(&env, NULL, NULL, 0) == MM_OK);
    MM_CHECK(!env->insecure);
    mm_nats_env_destroy(env);
    setenv("NATS_INSECURE", "", 1); /* present counts, as in the reference */
    MM_REQUIRE(mm_nats_env_read(&env, NULL, NULL, 0) == MM_OK);
    MM_CHECK(env->insecure);
    mm_nats_env_destroy(env);
}

static int
dir_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void
test_ca(void)
{
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
    char dir[256];
    MM_REQUIRE(mm_test_tmpdir(dir, sizeof(dir)) == 0);
    clear_env();
    setenv("NATS_HOST", "h", 1);
    setenv("TMPDIR", dir, 1);

    mm_nats_env *env = NULL;
    setenv("NATS_CA", "/etc/my-ca.pem", 1);
    MM_REQUIRE(mm_nats_env_read(&env, NULL, NULL, 0) == MM_OK);
    MM_CHECK_STR(env->ca_path, "/etc/my-ca.pem");
    MM_CHECK(!env->ca_path_is_temp);
    mm_nats_env_destroy(env);

    /* NATS_CA wins over NATS_CA_CONTENTS, as in the reference: no temp file. */
    setenv("NATS_CA_CONTENTS", pem, 1);
    MM_REQUIRE(mm_nats_env_read(&env, NULL, NULL, 0) == MM_OK);
    MM_CHECK_STR(env->ca_path, "/etc/my-ca.pem");
    MM_CHECK_INT(dir_entries(dir), ==, 0);
    mm_nats_env_destroy(env);

    unsetenv("NATS_CA");
    MM_REQUIRE(mm_nats_env_read(&env, NULL, NULL, 0) == MM_OK);
    MM_REQUIRE(env->ca_path != NULL);
    MM_CHECK(env->ca_path_is_temp);
    MM_CHECK(strncmp(env->ca_path, dir, strlen(dir)) == 0);
    struct stat st;
    MM_REQUIRE(stat(env->ca_path, &st) == 0);
    MM_CHECK_INT(st.st_mode & 0777, ==, 0600);
    char got[256] = "";
    FILE *f = fopen(env->ca_path, "r");
    MM_REQUIRE(f != NULL);
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    got[n] = '\0';
    fclose(f);
    MM_CHECK_STR(got, pem);
    char path[512];
    snprintf(path, sizeof(path), "%s", env->ca_path);
    mm_nats_env_destroy(env);
    MM_CHECK_INT(access(path, F_OK), ==, -1);
    MM_CHECK_INT(dir_entries(dir), ==, 0);

    /* A temp dir that does not exist: a clear error naming the variable. */
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    setenv("TMPDIR", missing, 1);
    const char *var = NULL;
    char why[512] = "";
    env = NULL;
    MM_CHECK_INT(mm_nats_env_read(&env, &var, why, sizeof(why)), ==, MM_ERR_SYS);
    MM_CHECK(env == NULL);
    MM_CHECK_STR(var, "NATS_CA_CONTENTS");
    MM_CHECK(strstr(why, "NATS_CA_CONTENTS") != NULL);
    rmdir(dir);
}

int
main(void)
{
    mm_log_setup("test_nats_env", MM_LOG_WARN, MM_LOG_TEXT);
    test_host();
    test_credentials();
    test_insecure();
    test_ca();
    return MM_TEST_DONE();
}
