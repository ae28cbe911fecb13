// A small MLflow job on the official Java client (org.mlflow:mlflow-client): one experiment, one
// run, params, metrics and an artifact, then reads the run back. The tests run it with
// `java -cp <resolved class path> MlflowJob.java`. (Artifacts are checked by the tests over REST:
// the client lists them through a Python subprocess, seconds per call.)
//
// Arguments: <experiment name> <artifact size in bytes>. The tracking server comes from
// MLFLOW_TRACKING_URI. With JOB_EXPLICIT_CREDENTIALS=1 the token (MLFLOW_TRACKING_TOKEN) is
// handed to the client explicitly, as `new MlflowClient(new BasicMlflowHostCreds(uri, token))`;
// otherwise the job is unmodified client code: `new MlflowClient()`. Prints one JSON line.

import java.io.File;
import java.nio.file.Files;
import java.util.Random;
import org.mlflow.api.proto.Service.Run;
import org.mlflow.api.proto.Service.RunInfo;
import org.mlflow.api.proto.Service.RunStatus;
import org.mlflow.tracking.MlflowClient;
import org.mlflow.tracking.creds.BasicMlflowHostCreds;

public class MlflowJob {
  public static void main(String[] args) throws Exception {
    String experimentName = args[0];
    int artifactBytes = Integer.parseInt(args[1]);
    MlflowClient client;
    if ("1".equals(System.getenv("JOB_EXPLICIT_CREDENTIALS"))) {
      client = new MlflowClient(new BasicMlflowHostCreds(
          System.getenv("MLFLOW_TRACKING_URI"), System.getenv("MLFLOW_TRACKING_TOKEN")));
    } else {
      client = new MlflowClient();
    }
    String experimentId = client.createExperiment(experimentName);
    RunInfo info = client.createRun(experimentId);
    String runId = info.getRunId();
    client.logParam(runId, "client", "java");
    client.logParam(runId, "alpha", "0.5");
    for (int step = 0; step < 5; step++) {
      client.logMetric(runId, "loss", 1.0 / (step + 1), System.currentTimeMillis(), step);
    }
    File dir = Files.createTempDirectory("mlflow-java-job-").toFile();
    File artifact = new File(dir, "model.bin");
    byte[] bytes = new byte[artifactBytes];
    new Random(42).nextBytes(bytes);
    Files.write(artifact.toPath(), bytes);
    client.logArtifact(runId, artifact);
    client.setTerminated(runId, RunStatus.FINISHED);
    Run run = client.getRun(runId);
    artifact.delete();
    dir.delete();
    System.out.println("{\"experiment_id\":\"" + experimentId + "\",\"run_id\":\"" + runId
        + "\",\"status\":\"" + run.getInfo().getStatus() + "\",\"params\":"
        + run.getData().getParamsCount() + ",\"metrics\":" + run.getData().getMetricsCount()
        + "}");
    client.close();
  }
}
