/* A chat listener at its least: floor-listen HOST PORT TOPIC ID COUNT SECONDS. Subscribes at QoS 1, says
 * "SUBACK" once subscribed, and shows each message at once as "RECEIVED-SECONDS PAYLOAD" (mosquitto_sub -F
 * "%U %p" under stdbuf -oL: one write per line, as a chat must show each line when it arrives) until COUNT
 * have arrived; exits 27 if they have not after SECONDS. For scripts/bench-workshop's floor column. */
#include "floor.h"
#include <signal.h>
#include <time.h>

static long wanted, seen;

static int arrived(void* context, char* topic, int topic_length, MQTTAsync_message* message) {
    (void)context; (void)topic_length;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    printf("%lld.%06ld %.*s\n", (long long)now.tv_sec, now.tv_nsec / 1000, message->payloadlen,
           (const char*)message->payload);
    fflush(stdout);
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic);
    if (++seen == wanted) sem_post(&floor_done);
    return 1;
}

static void subscribed(void* context, MQTTAsync_successData5* data) {
    (void)context; (void)data;
    puts("SUBACK");
    fflush(stdout);
}

static void timed_out(int signal) {
    (void)signal;
    _exit(27);
}

int main(int argc, char** argv) {
    if (argc != 7) { fprintf(stderr, "usage: floor-listen host port topic id count seconds\n"); return 64; }
    wanted = atol(argv[5]);
    signal(SIGALRM, timed_out);
    alarm((unsigned)atoi(argv[6]));
    MQTTAsync client = floor_connect(argv[1], argv[2], argv[4], 10, arrived);
    MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
    response.onSuccess5 = subscribed;
    response.onFailure5 = floor_failed;
    response.context = "subscribe";
    MQTTAsync_subscribe(client, argv[3], 1, &response);
    sem_wait(&floor_done);
    floor_disconnect_and_exit(client);
}
