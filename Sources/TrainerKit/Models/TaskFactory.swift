/// The one place a run config becomes a training task: its model kind's task over its dataset.
public enum TaskFactory {
    /// The task of `config` (`model.kind`) over `data.dataset`, which must exist.
    public static func make(config: RunConfig) throws -> TrainingTask {
        switch config.model.kind {
        case .gpt: return try GPTTask(config: config, dataset: TokenDataset(path: config.data.dataset))
        case .seq2seq: return try Seq2SeqTask(config: config, dataset: ParallelDataset(path: config.data.dataset))
        }
    }
}
