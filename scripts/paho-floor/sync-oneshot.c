/* One message, connect to exit, over the synchronous API: floor-sync-oneshot HOST PORT TOPIC MESSAGE QOS */
#include "sync.h"

int main(int argc, char** argv) {
    if (argc != 6) { fprintf(stderr, "usage: floor-sync-oneshot host port topic message qos\n"); return 64; }
    char id[64];
    snprintf(id, sizeof id, "floor-sync-oneshot-%d", (int)getpid());
    MQTTClient client = sync_connect(argv[1], argv[2], id, 0, 10);
    int fd = sync_socket(atoi(argv[2]));
    int qos = atoi(argv[5]);
    MQTTResponse response = MQTTClient_publish5(client, argv[3], (int)strlen(argv[4]), argv[4], qos, 0, NULL, NULL);
    if (response.reasonCode != MQTTCLIENT_SUCCESS) sync_fail("publish", response.reasonCode);
    while (qos > 0 && sync_acknowledged == 0) sync_drain(client, fd, 1000, NULL);
    sync_disconnect_and_exit(client);
}
