/// Tavana's own version: what `tavana version` prints and both front doors report.
public enum TavanaBuild {
    public static let version = "0.1.0"
}
