/* Paho 1.3.12's MQTTClient_connect5 drops the broker's session-present flag under MQTT 5 (fixed upstream in
 * 1.3.14, commit 2cb463b0: `if (MQTTVersion == 4)` became `>= MQTTVERSION_3_1_1`). Connects twice with a
 * session under each version and prints what Paho returns: floor-sync-session HOST PORT */
#include <MQTTClient.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 3) { fprintf(stderr, "usage: floor-sync-session host port\n"); return 64; }
    char uri[256], id[64];
    snprintf(uri, sizeof uri, "tcp://%s:%s", argv[1], argv[2]);
    for (int version = MQTTVERSION_3_1_1; version <= MQTTVERSION_5; version++) {
        snprintf(id, sizeof id, "floor-sync-session-%d-%d", version, (int)getpid());
        printf("MQTT %s:", version == MQTTVERSION_5 ? "5" : "3.1.1");
        for (int attempt = 0; attempt < 2; attempt++) {
            MQTTClient client;
            MQTTClient_createOptions create = MQTTClient_createOptions_initializer;
            create.MQTTVersion = version;
            MQTTClient_createWithOptions(&client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &create);
            MQTTClient_connectOptions options = MQTTClient_connectOptions_initializer5;
            MQTTClient_connectOptions options311 = MQTTClient_connectOptions_initializer;
            MQTTProperties properties = MQTTProperties_initializer;
            MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL, .value.integer4 = 60};
            MQTTProperties_add(&properties, &expiry);
            int rc;
            if (version == MQTTVERSION_5) {
                options.cleanstart = attempt == 0 ? 1 : 0; /* the second connect resumes the first's session */
                MQTTResponse response = MQTTClient_connect5(client, &options, &properties, NULL);
                rc = response.reasonCode;
                MQTTResponse_free(response);
                MQTTClient_disconnect5(client, 0, MQTTREASONCODE_SUCCESS, NULL);
            } else {
                options311.cleansession = attempt == 0 ? 1 : 0;
                if (attempt == 0) { MQTTClient_connect(client, &options311); MQTTClient_disconnect(client, 0); }
                options311.cleansession = 0;
                rc = MQTTClient_connect(client, &options311);
                options = options311;
                MQTTClient_disconnect(client, 0);
            }
            printf(" connect %d rc %d sessionPresent %d;", attempt + 1, rc, options.returned.sessionPresent);
            MQTTProperties_free(&properties);
            MQTTClient_destroy(&client);
        }
        printf("\n");
    }
    return 0;
}
