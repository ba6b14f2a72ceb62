// Every signal blocked for a while: no signal handler of Kea may run in a thread of ours before
// it blocks its own signals, nor in a child between its vfork or clone and its exec.

#ifndef RUNSCRIPT_SIGNALS_BLOCKED_H
#define RUNSCRIPT_SIGNALS_BLOCKED_H

#include <pthread.h>
#include <signal.h>

namespace runscript {

// Blocks every signal of the calling thread from construction until restore() or the end of
// the scope. A vfork child never gets there: it execs or exits.
class SignalsBlocked {
public:
    SignalsBlocked() {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old_);
    }
    ~SignalsBlocked() { restore(); }
    void restore() {
        if (restored_) return;
        pthread_sigmask(SIG_SETMASK, &old_, 0);
        restored_ = true;
    }

    SignalsBlocked(const SignalsBlocked&) = delete;
    SignalsBlocked& operator=(const SignalsBlocked&) = delete;

private:
    sigset_t old_;
    bool restored_ = false;
};

}  // namespace runscript

#endif  // RUNSCRIPT_SIGNALS_BLOCKED_H
