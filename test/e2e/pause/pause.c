/*
 * The sandbox ("pause") process of the end-to-end test's own image: it holds the pod's
 * namespaces and sleeps until containerd stops the sandbox. Built with `gcc -static`, so
 * the image needs nothing but this one file.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
    (void)sig;
    _exit(0);
}

/* As PID 1 of the pod it inherits orphans: collect them so none stay zombies. */
static void on_child(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static void handle(int sig, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(sig, &action, NULL);
}

int main(void) {
    handle(SIGINT, on_stop);
    handle(SIGTERM, on_stop);
    handle(SIGCHLD, on_child);
    for (;;) {
        pause();
    }
}
