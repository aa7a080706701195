/* mm_fail: writes the reason only where there is room, truncates safely, returns err as given. */
#include "mm/err.h"
#include "mm/log.h"
#include "mm_test.h"

int
main(void)
{
    char why[16];
    /* the log flag parsers shared by the services */
    MM_CHECK_INT(mm_log_format_parse("text"), ==, MM_LOG_TEXT);
    MM_CHECK_INT(mm_log_format_parse("json"), ==, MM_LOG_JSON);
    MM_CHECK_INT(mm_log_format_parse("JSON"), ==, -1);
    MM_CHECK_INT(mm_log_level_parse("warn"), ==, MM_LOG_WARN);
    MM_CHECK_INT(mm_log_level_parse("verbose"), ==, -1);
    MM_CHECK_INT(mm_fail(MM_ERR_INVALID, why, sizeof(why), "port %d is out of range", 70000), ==, MM_ERR_INVALID);
    MM_CHECK_STR(why, "port 70000 is o"); /* truncated to fit, NUL-terminated */
    MM_CHECK_INT(mm_fail(MM_ERR_EXPIRED, why, sizeof(why), "%s", "late"), ==, MM_ERR_EXPIRED);
    MM_CHECK_STR(why, "late");
    MM_CHECK_INT(mm_fail(MM_OK, why, sizeof(why), "fine"), ==, MM_OK);
    MM_CHECK_STR(why, "fine");

    /* no buffer, or no room: nothing is written */
    MM_CHECK_INT(mm_fail(MM_ERR_SYS, NULL, 100, "ignored %d", 1), ==, MM_ERR_SYS);
    memcpy(why, "untouched", 10);
    MM_CHECK_INT(mm_fail(MM_ERR_NOMEM, why, 0, "ignored"), ==, MM_ERR_NOMEM);
    MM_CHECK_STR(why, "untouched");
    MM_CHECK_INT(mm_fail(MM_ERR_IO, why, 1, "x"), ==, MM_ERR_IO);
    MM_CHECK_STR(why, "");

    MM_CHECK_STR(mm_err_str(MM_ERR_FULL), "queue full");
    MM_CHECK_STR(mm_err_str((mm_err)999), "unknown error");
    return MM_TEST_DONE();
}
