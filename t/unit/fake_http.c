/* fake_http: running the local fakes the unit tests talk to (see fake_http.h). */
#include "fake_http.h"

#include "dp_test.h"

#include "dp_http.h"
#include "dp_json.h"

#include <apr_strings.h>
#include <apr_time.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int dp_fake_free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0
        && getsockname(s, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (s >= 0) {
        close(s);
    }
    return port;
}

const char *dp_fake_script(apr_pool_t *p, const char *cases_dir, const char *env_var,
                           const char *file)
{
    const char *s = getenv(env_var);
    return s ? s : apr_pstrcat(p, cases_dir, "/../../fakes/", file, NULL);
}

/* One line from fd within ms milliseconds, without its newline; 0 when none came whole. */
static int read_line(int fd, char *buf, size_t size, int ms)
{
    size_t n = 0;
    apr_time_t end = apr_time_now() + apr_time_from_msec(ms);

    while (n + 1 < size) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long left = (long)apr_time_as_msec(end - apr_time_now());
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 || read(fd, buf + n, 1) != 1) {
            break;
        }
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return 1;
        }
        n++;
    }
    buf[n] = '\0';
    return 0;
}

/* In the child, before exec: die with the test binary, even if it crashes; stdout to the
 * pipe. Never returns. */
static void exec_child(const char *const *argv, int flags, pid_t parent, int fds[2])
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) {
        _exit(1);
    }
    if (flags & DP_FAKE_QUIET) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDERR_FILENO);
    }
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
}

int dp_fake_spawn(dp_fake *f, const char *const *argv, const char *ready_text, int flags, int ms)
{
    char line[256];
    int fds[2], up = 0;
    pid_t parent = getpid();

    dp_fake_stop(f);
    if (pipe(fds) != 0) {
        return CHECK_MSG(0, "pipe: %s", strerror(errno));
    }
    f->pid = fork();
    if (f->pid == 0) {
        exec_child(argv, flags, parent, fds);
    }
    close(fds[1]);
    f->out_fd = fds[0];
    while (f->pid > 0 && !up && read_line(f->out_fd, line, sizeof(line), ms)) {
        if (ready_text != NULL) {
            up = strstr(line, ready_text) != NULL;
        }
        else {
            up = sscanf(line, "ready %d", &f->port) == 1 && f->port > 0;
            break; /* the fakes' first line is their ready line */
        }
    }
    if (!up) {
        dp_fake_stop(f);
    }
    return CHECK_MSG(up, "%s %s did not become ready", argv[0], argv[1] ? argv[1] : "");
}

void dp_fake_stop(dp_fake *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
    }
    f->pid = 0;
    if (f->out_fd >= 0) {
        close(f->out_fd);
        f->out_fd = -1;
    }
}

void dp_fake_teardown(dp_fake *f)
{
    int status = 0;
    pid_t pid = f->pid;

    if (pid > 0) {
        kill(pid, SIGTERM);
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM); /* it was still serving */
        f->pid = 0;
    }
    dp_fake_stop(f);
}

const char *dp_fake_url(apr_pool_t *p, const dp_fake *f, const char *path)
{
    return apr_psprintf(p, "http://127.0.0.1:%d%s", f->port, path);
}

json_t *dp_fake_call(apr_pool_t *p, const dp_fake *f, const char *method, const char *path,
                     const char *body)
{
    dp_http_req req = {0};
    dp_http_resp resp;
    json_t *j;

    req.method = method;
    req.url = dp_fake_url(p, f, path);
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.timeout_ms = 5000;
    if (dp_http_do(p, &req, &resp) != NULL || resp.status != 200) {
        CHECK_MSG(0, "%s %s on the fake failed", method, path);
        return NULL;
    }
    j = dp_json_own(p, json_loadb(resp.body, resp.len, 0, NULL));
    CHECK_MSG(j != NULL, "%s %s: not JSON", method, path);
    return j;
}

json_t *dp_fake_log(apr_pool_t *p, const dp_fake *f)
{
    json_t *log = dp_fake_call(p, f, "GET", "/__requests", NULL);
    return json_is_array(log) ? log : dp_json_own(p, json_array());
}
