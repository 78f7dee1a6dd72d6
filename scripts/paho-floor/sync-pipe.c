/* Each stdin line as one message, at most WINDOW unacknowledged, over the synchronous API on one thread:
 * floor-sync-pipe HOST PORT TOPIC QOS WINDOW */
#include "sync.h"

int main(int argc, char** argv) {
    if (argc != 6) { fprintf(stderr, "usage: floor-sync-pipe host port topic qos window\n"); return 64; }
    int qos = atoi(argv[4]);
    long window = atol(argv[5]), sent = 0;
    char id[64];
    snprintf(id, sizeof id, "floor-sync-pipe-%d", (int)getpid());
    MQTTClient client = sync_connect(argv[1], argv[2], id, 0, (int)window);
    int fd = sync_socket(atoi(argv[2]));
    static char line[65536];
    while (fgets(line, sizeof line, stdin)) {
        size_t length = strlen(line);
        if (length > 0 && line[length - 1] == '\n') line[--length] = 0;
        if (length == 0) continue;
        /* Acknowledgements that have arrived, without waiting; then wait only while the window is full. */
        sync_writable(client, fd);
        while (qos > 0 && sent - sync_acknowledged >= window) sync_drain(client, fd, 1000, NULL);
        MQTTResponse response = MQTTClient_publish5(client, argv[3], (int)length, line, qos, 0, NULL, NULL);
        if (response.reasonCode != MQTTCLIENT_SUCCESS) sync_fail("publish", response.reasonCode);
        sent++;
    }
    while (qos > 0 && sync_acknowledged < sent) sync_drain(client, fd, 1000, NULL);
    sync_disconnect_and_exit(client);
}
